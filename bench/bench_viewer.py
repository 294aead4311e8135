"""Viewer benchmark (issue 15, "Done when"): on a 399-slice series, the time from opening the
series to its first slice drawn, and the scroll frame rate through its preview.

On the whole embedded stack (`bench_stack`: Kafka, Postgres, S3Proxy and every service), ONE CT
series of `--slices` 512x512 slices (the `synthetic_ct` phantom, fresh UIDs) is uploaded by
presigned multipart through the API; `GET /studies/{id}/products` is polled until its preview is
completed (and its other products have ended, so no encode or render competes for the CPU).
Then Debian's Chromium, driven by Playwright, opens the viewer with a token in the URL fragment
(as tests/e2e/test_viewer_study.py does), `--repeat` times, each in a fresh browser context (no
HTTP cache, no compiled WebAssembly kept):

1. clicks the series' "open" link on the studies page and times the first slice drawn (the
   page's own `data-first-draw-ms`, from `openSeries`, and the wall time from the click), then
   the time until every slice of the preview is decoded (`data-ready` = `data-total`);
2. with every slice decoded, steps through the preview one key press per animation frame, down
   through all slices and back up, counting the frames painted (`data-draws`) per second.

Then (unless `--no-while-encoding`) a second series is uploaded and opened as soon as its
preview is listed, while it is still being encoded: the time to its first slice drawn, and how
many slices were encoded (counted on the page) and decoded and shown after 5 s.

    .venv/bin/python -m bench.bench_viewer [--slices 399] [--repeat 3]

Prints a table and writes it, with the machine and its load, to
bench/results/viewer-<UTC date-time>.md. Figures only, no asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from bench.bench_products import (
    describe_machine,
    load_average,
    log,
    other_test_runs,
    others_seen,
    write_result,
)
from bench.ingest.stack import BenchStack, bench_stack
from bench.ingest.uploads import Uploaded, presigned_upload, wait_indexed
from bench.paths import RESULTS, classpath_cache
from bench.products.series import SeriesArchive, SeriesTemplate
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from dicompress_schemas import study_id
from dicompress_schemas.jobs import TERMINAL_STATUSES
from dicompress_stack.stack import raise_interrupt

TENANT = "bench-viewer"
MB = 1e6
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [  # as tests/e2e/test_viewer_browser.py
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 180_000
VISIBLE_AFTER_S = 5.0

# Step through the preview one key press per animation frame, as fast as the page draws: the
# frames painted (each a new slice windowed and drawn) over the seconds taken (also run by
# tests/e2e/test_viewer_study.py)
SCROLL_BENCH = """async (steps) => {
  const stage = document.getElementById("stage");
  const drawsBefore = Number(stage.dataset.draws);
  const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
  const started = performance.now();
  for (let i = 0; i < steps; i += 1) {
    const key = Math.floor(i / (Number(stage.dataset.total) - 1)) % 2 ? "ArrowUp" : "ArrowDown";
    stage.dispatchEvent(new KeyboardEvent("keydown", { key, bubbles: true }));
    await frame();
  }
  await frame();
  const seconds = (performance.now() - started) / 1000;
  return { frames: Number(stage.dataset.draws) - drawsBefore, seconds };
}"""

DRAWN = "#stage[data-drawn]:not([data-drawn=''])"
ALL_READY = (
    "() => { const s = document.getElementById('stage').dataset;"
    " return s.total && Number(s.total) > 0 && s.ready === s.total; }"
)


@dataclass(frozen=True)
class Opening:
    """One opening of the completed preview in a fresh browser context."""

    first_draw_ms: int  # the page's: from openSeries to the first putImageData
    click_to_draw_s: float  # wall time from the click to the drawn slice seen by Playwright
    all_ready_s: float  # from the click to every slice decoded
    total: int
    width: int
    height: int
    frames: int
    scroll_s: float
    steps: int

    @property
    def fps(self) -> float:
        return self.frames / self.scroll_s if self.scroll_s else 0.0


@dataclass(frozen=True)
class WhileEncoding:
    """The second series, opened while its preview was being encoded."""

    preview_status: str  # when opened
    indexed_s: float  # from upload complete
    listed_s: float
    opened_s: float
    first_draw_ms: int
    first_drawn_s: float  # from upload complete
    encoded_5s: int
    ready_5s: int
    total: int
    all_ready_s: float | None  # from opening


async def upload(stack: BenchStack, archive: SeriesArchive) -> tuple[Uploaded, float]:
    headers = {"Authorization": f"Bearer {stack.handle.token(TENANT)}"}
    async with httpx.AsyncClient(
        base_url=stack.config.api_url, headers=headers, timeout=httpx.Timeout(600.0)
    ) as http:
        uploaded = await presigned_upload(http, archive.path, archive.size)
        indexed_at = await wait_indexed(http, uploaded.ingest_id, 600.0)
    return uploaded, indexed_at


def products(http: httpx.Client, study: str) -> list[dict[str, Any]]:
    answer = http.get(f"/studies/{study}/products")
    if answer.status_code in (404, 429):
        return []
    answer.raise_for_status()
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def wait_preview(
    http: httpx.Client, study: str, *, listed_only: bool, timeout_s: float
) -> dict[str, Any]:
    """The series' preview once listed (`listed_only`) or completed with every product ended."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        items = products(http, study)
        previews = [p for p in items if p["kind"] == "preview"]
        if previews and listed_only:
            return previews[0]
        if previews and all(p["status"] in TERMINAL_STATUSES for p in items):
            if previews[0]["status"] != "completed":
                raise RuntimeError(f"preview {previews[0]['status']}: {previews[0]}")
            return previews[0]
        time.sleep(0.05 if listed_only else 0.5)
    raise TimeoutError(f"no preview of {study} after {timeout_s:.0f} s")


def open_page(browser: Browser, base_url: str, token: str) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base_url}/viewer/#token={token}")
    page.wait_for_selector("body[data-ready=true][data-view=studies]")
    return page


def one_opening(browser: Browser, base_url: str, token: str) -> Opening:
    page = open_page(browser, base_url, token)
    try:
        pill = page.locator("li.series .pill[data-kind=preview]").first
        pill.wait_for(timeout=WAIT_MS)
        clicked = time.perf_counter()
        pill.locator("xpath=ancestor::li[1]").locator("a.open").click()
        page.wait_for_selector(DRAWN, timeout=WAIT_MS)
        drawn = time.perf_counter()
        first_draw_ms = int(page.get_attribute("#stage", "data-first-draw-ms") or -1)
        page.wait_for_function(ALL_READY, timeout=WAIT_MS, polling=50)
        all_ready = time.perf_counter()
        total = int(page.get_attribute("#stage", "data-total") or 0)
        size: dict[str, int] = page.evaluate(
            "() => { const c = document.getElementById('slice-canvas');"
            " return { width: c.width, height: c.height }; }"
        )
        page.focus("#stage")
        steps = 2 * (total - 1)  # down through every slice and back up
        bench: dict[str, float] = page.evaluate(SCROLL_BENCH, steps)
        return Opening(
            first_draw_ms,
            drawn - clicked,
            all_ready - clicked,
            total,
            int(size["width"]),
            int(size["height"]),
            int(bench["frames"]),
            float(bench["seconds"]),
            steps,
        )
    finally:
        page.context.close()


def while_encoding(
    browser: Browser, stack: BenchStack, template: SeriesTemplate, workdir: Path
) -> WhileEncoding:
    token = stack.handle.token(TENANT)
    archive = template.build_zip(workdir / "series-2.zip")
    study = str(study_id(TENANT, archive.study_instance_uid))
    page = open_page(browser, stack.config.api_url, token)  # ready before the upload
    try:
        log("while encoding: uploading a second series")
        # sync Playwright runs an event loop in this thread: the upload runs in its own
        with ThreadPoolExecutor(1) as pool:
            uploaded, indexed_at = pool.submit(asyncio.run, upload(stack, archive)).result()
        with httpx.Client(
            base_url=stack.config.api_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ) as http:
            preview = wait_preview(http, study, listed_only=True, timeout_s=120)
        listed_at = time.perf_counter()
        page.evaluate(
            "(hash) => { location.hash = hash; }",
            f"#/study/{study}/series/{archive.series_instance_uid}",
        )
        opened_at = time.perf_counter()
        page.wait_for_selector(DRAWN, timeout=WAIT_MS)
        drawn_at = time.perf_counter()
        first_draw_ms = int(page.get_attribute("#stage", "data-first-draw-ms") or -1)
        page.wait_for_timeout(max(0.0, opened_at + VISIBLE_AFTER_S - time.perf_counter()) * 1000)
        counts: dict[str, str] = page.evaluate(
            "() => ({ ...document.getElementById('stage').dataset })"
        )
        try:
            page.wait_for_function(ALL_READY, timeout=WAIT_MS, polling=100)
            all_ready: float | None = time.perf_counter() - opened_at
        except PlaywrightTimeoutError:
            all_ready = None
        start = uploaded.completed_at
        return WhileEncoding(
            str(preview["status"]),
            indexed_at - start,
            listed_at - start,
            opened_at - start,
            first_draw_ms,
            drawn_at - start,
            int(counts.get("encoded") or 0),
            int(counts.get("ready") or 0),
            int(counts.get("total") or 0),
            all_ready,
        )
    finally:
        page.context.close()
        archive.path.unlink(missing_ok=True)


def render(openings: list[Opening], live: WhileEncoding | None) -> str:
    first = openings[0]
    lines = [
        f"Completed preview: {first.total} slices of {first.width}x{first.height}, each opening "
        "in a fresh browser context (cold HTTP cache, the decoder's WebAssembly compiled anew).",
        "",
        "| run | first slice drawn (page) | click to drawn (Playwright) | all slices decoded "
        "| scroll frames / s | frames painted / key presses |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for n, o in enumerate(openings, 1):
        lines.append(
            f"| {n} | {o.first_draw_ms} ms | {o.click_to_draw_s * 1000:.0f} ms "
            f"| {o.all_ready_s:.1f} s | {o.fps:.1f} | {o.frames} / {o.steps} in "
            f"{o.scroll_s:.1f} s |"
        )
    if len(openings) > 1:
        lines.append(
            f"| median | {statistics.median(o.first_draw_ms for o in openings):.0f} ms "
            f"| {statistics.median(o.click_to_draw_s for o in openings) * 1000:.0f} ms "
            f"| {statistics.median(o.all_ready_s for o in openings):.1f} s "
            f"| {statistics.median(o.fps for o in openings):.1f} | |"
        )
    if live is not None:
        ready = f"{live.all_ready_s:.1f} s" if live.all_ready_s is not None else "not in time"
        lines += [
            "",
            "Opened while its preview was being encoded (a second series, fresh UIDs; seconds "
            "from upload complete): ingest complete "
            f"{live.indexed_s:.1f} s, preview listed {live.listed_s:.1f} s (status "
            f"{live.preview_status!r}), series opened {live.opened_s:.1f} s, first slice drawn "
            f"{live.first_drawn_s:.1f} s ({live.first_draw_ms} ms after opening by the page). "
            f"{VISIBLE_AFTER_S:.0f} s after opening: {live.encoded_5s} of {live.total} slices "
            f"encoded (shown as such on the strip), {live.ready_5s} decoded and viewable; every "
            f"slice decoded {ready} after opening.",
        ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--slices", type=int, default=399, help="slices of the CT series")
    parser.add_argument("--repeat", type=int, default=3, help="openings, each a fresh context")
    parser.add_argument(
        "--no-while-encoding", action="store_true", help="skip the second, live series"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the .md goes")
    parser.add_argument("--note", default="", help="a sentence for the results file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, raise_interrupt)
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2
    began = datetime.now(UTC)
    load = load_average()
    machine = describe_machine(load)
    others = other_test_runs()
    print(f"load average before: {load} ({os.cpu_count()} cores)", flush=True)
    cache = classpath_cache()
    openings: list[Opening] = []
    live: WhileEncoding | None = None
    loads: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dicompress-bench-viewer-") as tmp:
        workdir = Path(tmp)
        template = SeriesTemplate(workdir / "series", args.slices)
        with bench_stack(cache) as stack:
            log("stack up")
            token = stack.handle.token(TENANT)
            archive = template.build_zip(workdir / "series-1.zip")
            study = str(study_id(TENANT, archive.study_instance_uid))
            log(f"uploading {archive.size / MB:.0f} MB, {archive.members} slices")
            uploaded, _ = asyncio.run(upload(stack, archive))
            archive.path.unlink(missing_ok=True)
            with httpx.Client(
                base_url=stack.config.api_url,
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            ) as http:
                wait_preview(http, study, listed_only=False, timeout_s=600)
            log(f"preview completed {time.perf_counter() - uploaded.completed_at:.1f} s after")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
                )
                try:
                    for n in range(1, args.repeat + 1):
                        loads.append(load_average())
                        opening = one_opening(browser, stack.config.api_url, token)
                        openings.append(opening)
                        log(
                            f"opening {n}: first slice {opening.first_draw_ms} ms, all decoded "
                            f"{opening.all_ready_s:.1f} s, scroll {opening.fps:.1f} frames/s"
                        )
                    if not args.no_while_encoding:
                        loads.append(load_average())
                        live = while_encoding(browser, stack, template, workdir)
                finally:
                    browser.close()
    table = render(openings, live)
    print(table, flush=True)
    text = "\n".join(
        [
            f"# Viewer benchmark, {began:%Y-%m-%d %H:%M} UTC",
            "",
            f"One CT series of {args.slices} slices 512x512 (synthetic_ct phantom) uploaded "
            "by presigned multipart through the API of the embedded stack; its preview made on "
            "upload (default parameters), then shown by the viewer page in Debian's Chromium "
            "(headless, Playwright). Command: `"
            + " ".join(["python3 -m uv run --frozen python -m bench.bench_viewer", *sys.argv[1:]])
            + "`.",
            "",
            machine,
            "",
            others_seen(others)
            + f". Load average at each opening: {'; '.join(loads)}; at the end: "
            f"{load_average()}.",
            "",
            *([args.note, ""] if args.note else []),
            '"First slice drawn (page)": the page\'s `data-first-draw-ms`, from `openSeries` '
            "(GET /studies/{id}, GET /jobs/{id}/slices, the slice fetched from S3, the decode "
            "worker started, the J2K decoded, windowed, painted). Scroll: one ArrowDown/ArrowUp "
            "per animation frame through every slice and back, once all are decoded; frames "
            "painted (`data-draws`) per second.",
            "",
            table,
            "",
        ]
    )
    write_result(args.results, f"viewer-{began:%Y%m%d-%H%M%S}.md", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
