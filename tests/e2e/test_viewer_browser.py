"""The web viewer in a real browser (Debian Chromium driven by Playwright) on the real services:
submit a job through the page's form, watch its progress move, kill the notifier mid-job and
start it again on the same port, and see the page resume by itself and reach 100% with every
slice lit exactly once, then a download link that fetches the job's ZIP. `dicompress watch`'s
client follows the same job through the same kill, and must see every event exactly once too."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import time
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, Route, sync_playwright

from dicompress_api.web.viewer import STATIC_DIR
from dicompress_infra.auth import issue_token
from dicompress_stack.client import JobProgress
from dicompress_stack.net import free_port
from dicompress_stack.synthetic_ct import generate_series
from dicompress_stack.testing import RunningService, ServiceRunner, s3_client
from dicompress_stack.watch import watch

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SLICES = 40  # several seconds with one encoder process: time to kill the notifier mid-job
TENANT = "clinic-viewer"
WAIT_MS = 60_000


def _chromium(playwright: Playwright, profile: Path) -> BrowserContext:
    """Debian's Chromium in a fresh profile (no browser is downloaded)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); "
            "these tests drive it with Playwright and download no browser"
        )
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        accept_downloads=True,
    )


def _upload_series(env: dict[str, str], prefix: str) -> None:
    s3 = s3_client(env)
    for name, data in generate_series(n_slices=SLICES, seed=11):
        s3.put_object(Bucket=env["S3_BUCKET"], Key=prefix + name, Body=data)


def _kill(service: RunningService) -> None:
    """A crash, not a shutdown: no close frame reaches the page."""
    os.killpg(service.process.pid, signal.SIGKILL)
    service.process.popen.wait(timeout=10)


def _watch_in_thread(
    pool: ThreadPoolExecutor, ws_url: str, token: str, job_id: str
) -> Future[JobProgress]:
    """`dicompress watch`'s client, on its own event loop (Playwright's sync API owns this
    thread)."""
    return pool.submit(asyncio.run, watch(ws_url, token, job_id, stream=io.StringIO()))


def _card_number(page: Page, attribute: str) -> int:
    return int(page.locator("article.job").first.get_attribute(f"data-{attribute}") or -1)


def test_viewer_resumes_after_the_notifier_dies_mid_job(
    test_env: dict[str, str], service_runner: ServiceRunner, tmp_path: Path
) -> None:
    bucket = test_env["S3_BUCKET"]
    # a tenant may only read and write under its own prefix
    _upload_series(test_env, f"{TENANT}/studies/ct-viewer/")
    extra = {
        "API_ALLOWED_BUCKETS": json.dumps([bucket]),
        "COMPRESSOR_ALLOWED_BUCKETS": json.dumps([bucket]),
        "COMPRESSOR_PROCESSES": "1",  # one encoder: the job lasts long enough to kill mid-way
    }
    api_port = free_port()
    # as in the stack: the notifier admits WebSockets from pages the API serves, and no others
    notifier_env = {**extra, "NOTIFIER_ALLOWED_ORIGINS": f"http://127.0.0.1:{api_port}"}
    began = time.monotonic()
    for name in ("progress", "compressor"):
        service_runner.start(name, env=extra)
    notifier = service_runner.start("notifier", env=notifier_env)
    api = service_runner.start(
        "api",
        env={**extra, "API_PORT": str(api_port), "API_VIEWER_NOTIFIER_URL": notifier.ws_url},
    )
    token = issue_token(test_env["JWT_SECRET"], TENANT, "dicompress")
    marks = {"services up": time.monotonic() - began}

    with ThreadPoolExecutor(max_workers=1) as pool, sync_playwright() as playwright:
        browser = _chromium(playwright, tmp_path / "chromium-profile")
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            answer = page.goto(f"{api.base_url}/viewer/#token={token}")
            assert answer is not None
            assert answer.ok, (
                f"GET /viewer/ answered {answer.status}: is the viewer router in the app?"
            )
            page.wait_for_selector("body[data-ready=true]")
            assert "token" not in page.url  # taken from the fragment, then wiped
            page.wait_for_selector("#connection[data-state=live]")
            page.click("nav a[href='#/jobs']")  # the page opens on the studies
            page.wait_for_selector("body[data-view=jobs]")

            # no target: the page puts the ZIP under results/ beside the source's folder
            page.fill("input[name=source]", f"s3://{bucket}/{TENANT}/studies/ct-viewer/")
            page.fill("input[name=rate]", "10")
            page.click("#submit-form button[type=submit]")
            card = page.locator("article.job").first
            card.wait_for()
            cli = _watch_in_thread(
                pool, notifier.ws_url, token, card.get_attribute("data-job-id") or ""
            )
            page.wait_for_function(
                "() => Number(document.querySelector('article.job')?.dataset.done) >= 3",
                timeout=WAIT_MS,
            )

            marks["progress moved"] = time.monotonic() - began
            _kill(notifier)
            done_at_kill = _card_number(page, "done")
            assert done_at_kill < SLICES, "the job ended before the kill: make it longer"
            page.wait_for_selector("#connection[data-state=reconnecting]", timeout=WAIT_MS)
            service_runner.start(
                "notifier", env={**notifier_env, "NOTIFIER_PORT": str(notifier.port)}
            )
            marks["notifier back"] = time.monotonic() - began

            page.wait_for_selector(
                "article.job[data-status=completed] a.download:not([hidden])", timeout=WAIT_MS
            )
            marks["completed"] = time.monotonic() - began
            shot = tmp_path / "viewer.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")

            figures = {
                name: _card_number(page, name)
                for name in ("done", "total", "lit", "relit", "skipped", "last-seq", "applied")
            }
            print(f"done at the kill: {done_at_kill}; after: {figures}; seconds: {marks}")
            assert int(page.locator("body").get_attribute("data-reconnects") or 0) >= 1
            assert figures["done"] == figures["total"] == figures["lit"] == SLICES
            assert page.locator("article.job .grid .cell.ok").count() == SLICES
            assert figures["relit"] == 0  # no slice counted twice
            assert figures["skipped"] == 0  # no seq missed across the restart
            assert figures["last-seq"] == SLICES + 2  # requested, started, slices, completed
            assert card.locator(".counts").inner_text() == f"{SLICES} of {SLICES} slices"
            assert card.locator(".status").inner_text() == "Completed"

            with page.expect_download(timeout=WAIT_MS) as download:
                card.locator("a.download").click()
            archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
            names = archive.namelist()
            assert names[-1] == "manifest.json"
            assert len(set(names[:-1])) == SLICES
            assert errors == []

            seen = cli.result(timeout=WAIT_MS / 1000)
            assert seen.status == "completed"
            assert seen.encoded == set(range(SLICES))
            assert seen.last_seq == SLICES + 2
            assert seen.applied == SLICES + 3  # every event exactly once across the restart
        finally:
            browser.close()


# The page's rules (jobstate.js) run in the browser on the frames a live run rarely produces:
# snapshots, coalesced progress (slow clients only), gaps and replays. The files come from disk
# through a routed origin, so no server is needed.
JOBSTATE_CHECKS = """async () => {
  const { newJob, applyFrame, applySliceList, summary } = await import("/viewer/jobstate.js");
  const at = (seq) => new Date(1000 * seq).toISOString();
  const event = (seq, type, fields = {}) =>
    ({ op: "event", job_id: "j", seq, event: { type, seq, occurred_at: at(seq), ...fields } });
  const slice = (seq, index) => event(seq, "SliceEncoded",
    { slice_index: index, total_slices: 4, bytes_in: 1000, ratio: 10 });
  const job = newJob("j");
  const steps = [];
  const step = (frame) => { steps.push(applyFrame(job, frame)); return summary(job); };
  step(event(0, "CompressionRequested"));
  step(event(1, "JobStarted", { total_slices: 4 }));
  step(slice(2, 0));
  step(slice(2, 0));  // a replay: dropped
  const snapshot = step({ op: "snapshot", job_id: "j", seq: 4, job: {
    status: "running", slices_total: 4, slices_done: 3, last_event_at: at(4) } });
  const needed = job.needsSlices;
  applySliceList(job, [{ index: 0, status: "encoded" }, { index: 1, status: "encoded" },
                       { index: 2, status: "failed" }]);
  const named = summary(job);
  const folded = step({ op: "progress", job_id: "j", seq: 6, slices_total: 4,
                        slices_done: 4, slice_indexes: [2, 3], coalesced: 2 });
  step(slice(5, 3));  // older than the progress frame: dropped
  step({ op: "gap", job_id: "j", since_seq: 6, reason: "not-in-log" });
  const end = step(event(7, "JobCompleted", { ratio: 9.9 }));
  return { steps, snapshot, needed, named, folded, end, job: {
    duplicates: job.duplicates, skipped: job.skipped, gaps: job.gaps, lastSeq: job.lastSeq } };
}"""


def _serve_static(route: Route) -> None:
    """The viewer's files from disk, and an empty page to run checks in."""
    name = route.request.url.rsplit("/", 1)[-1]
    if name == "blank.html":
        route.fulfill(body="<!doctype html><title>checks</title>", content_type="text/html")
        return
    path = STATIC_DIR / name
    if not path.is_file():
        route.fulfill(status=404)
        return
    kind = "text/javascript" if path.suffix == ".js" else "text/html"
    route.fulfill(body=path.read_bytes(), content_type=kind)


def test_viewer_rules_handle_snapshots_progress_gaps_and_replays(tmp_path: Path) -> None:
    with sync_playwright() as playwright:
        browser = _chromium(playwright, tmp_path / "chromium-profile")
        try:
            page = browser.new_page()
            page.route("http://viewer.test/**", _serve_static)
            page.goto("http://viewer.test/viewer/blank.html")
            result = page.evaluate(JOBSTATE_CHECKS)
        finally:
            browser.close()
    # applied or not, frame by frame
    assert result["steps"] == [True, True, True, False, True, True, False, True, True]
    assert result["snapshot"]["done"] == 3  # counted, not yet named
    assert result["needed"] is True  # so the page asks GET /jobs/{id}/slices
    assert (result["named"]["done"], result["named"]["failed"]) == (2, 1)
    assert (result["folded"]["done"], result["folded"]["failed"]) == (4, 0)  # 2 re-ran fine
    assert result["end"]["share"] == 1
    assert result["end"]["eta"] == 0
    assert result["end"]["ratio"] == 9.9  # the job's own figure, as the server has it
    assert result["end"]["rate"] is None  # over: no pace (the server's figures say the same)
    assert result["job"] == {"duplicates": 2, "skipped": 0, "gaps": 1, "lastSeq": 7}
