"""Every study and job of the tenant is reachable from the page (issue 15): the viewer lists a
page, and "More studies" / "More jobs" follow the API's cursor until the last one. The page's
files come from disk; the API's answers are routed in, page by page as the API pages them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Route, sync_playwright
from tests.e2e.test_viewer_browser import _chromium

from dicompress_api.web.viewer import STATIC_DIR

# Not marked e2e: no service runs here. The page's code (or the app, in-process) runs in
# Chromium on answers routed in; it lives beside the e2e tests because it needs the browser.
pytestmark = pytest.mark.timeout(120)

ORIGIN = "http://viewer.test"
STUDIES, JOBS, PAGE = 45, 27, 20
TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
}


def _study(i: int) -> dict[str, Any]:
    return {
        "id": f"study-{i:03d}",
        "patientName": f"PATIENT^{i:03d}",
        "patientId": f"P{i:03d}",
        "studyDate": "20261206",
        "studyDescription": "CBCT",
        "modalities": ["CT"],
        "seriesCount": 1,
        "imageCount": 399,
        "receivedAt": "2026-01-01T00:00:00+00:00",
    }


def _job(i: int) -> dict[str, Any]:
    return {
        "jobId": f"00000000-0000-4000-8000-{i:012d}",
        "status": "completed",
        "sourceUri": f"s3://b/acme/in/{i}/",
        "codec": "j2k-lossy",
        "compressionRate": 10,
        "slicesDone": 3,
        "slicesTotal": 3,
        "slicesFailed": 0,
        "figures": {"slicesPerSecond": None, "etaAt": None, "ratio": 10.0},
        "lastSeq": 5,
        "timestamps": {},
    }


def _page(items: list[dict[str, Any]], cursor: str | None) -> dict[str, Any]:
    """The API's paging: PAGE items from the cursor (an offset here), and the next cursor."""
    start = int(cursor or 0)
    more = start + PAGE < len(items)
    return {"items": items[start : start + PAGE], "nextCursor": str(start + PAGE) if more else None}


def _answer(route: Route) -> None:
    url = urlsplit(route.request.url)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    if url.path.startswith("/viewer/") and url.path != "/viewer/config.json":
        name = url.path.removeprefix("/viewer/") or "index.html"
        path = STATIC_DIR / name
        if not path.is_file():
            route.fulfill(status=404)
            return
        route.fulfill(body=path.read_bytes(), content_type=TYPES.get(path.suffix, "text/plain"))
        return
    if url.path == "/viewer/config.json":
        body: Any = {"notifierUrl": "ws://127.0.0.1:9/ws"}  # nothing listens: no live updates
    elif url.path == "/studies":
        body = _page([_study(i) for i in range(STUDIES)], query.get("cursor"))
    elif url.path.endswith("/products"):
        body = {"items": []}
    elif url.path.startswith("/studies/"):
        body = {"id": url.path.rsplit("/", 1)[-1], "series": [], "products": []}
    elif url.path == "/jobs":
        body = _page([_job(i) for i in range(JOBS)], query.get("cursor"))
    elif url.path.endswith("/slices"):
        body = {"jobId": url.path.split("/")[2], "slicesTotal": 3, "slices": []}
    else:
        route.fulfill(status=404)
        return
    route.fulfill(body=json.dumps(body), content_type="application/json")


def test_more_buttons_reach_every_study_and_job(tmp_path: Path) -> None:
    with sync_playwright() as playwright:
        browser = _chromium(playwright, tmp_path / "chromium-profile")
        try:
            page = browser.new_page()
            page.route(f"{ORIGIN}/**", _answer)
            page.goto(f"{ORIGIN}/viewer/#token=t")
            studies = page.locator("#study-list [data-study-id]")
            studies.nth(PAGE - 1).wait_for()
            first = studies.count()
            more = page.locator("#more-studies")
            while more.is_visible():
                shown = studies.count()
                more.click()
                page.wait_for_function(
                    f"document.querySelectorAll('#study-list [data-study-id]').length > {shown}"
                )
            names = studies.evaluate_all("cards => cards.map((c) => c.dataset.studyId)")

            page.goto(f"{ORIGIN}/viewer/#/jobs")
            jobs = page.locator("#job-list > *")
            jobs.nth(PAGE - 1).wait_for()
            first_jobs = jobs.count()
            while page.locator("#more-jobs").is_visible():
                shown = jobs.count()
                page.locator("#more-jobs").click()
                page.wait_for_function(
                    f"document.querySelectorAll('#job-list > *').length > {shown}"
                )
            all_jobs = jobs.count()
        finally:
            browser.close()
    assert first == PAGE  # one page at first
    assert names == [f"study-{i:03d}" for i in range(STUDIES)]  # then all, in order, once
    assert (first_jobs, all_jobs) == (PAGE, JOBS)
