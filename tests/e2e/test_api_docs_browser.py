"""`/docs` works offline under its Content-Security-Policy (issue 16): Chromium opens the API's
Swagger UI, every request is answered by the app itself (anything else is refused, as with no
network), the page lists the API's operations, and nothing breaks the policy."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Route, sync_playwright
from tests.e2e.test_viewer_browser import _chromium
from tests.unit.api.api_fakes import (
    SECRET,
    FakeArchives,
    FakeKeys,
    FakePublisher,
    FakeSources,
    FakeStats,
    FakeStore,
)

from dicompress_api.app import create_app
from dicompress_api.settings import ApiSettings

# Not marked e2e: no service runs here. The page's code (or the app, in-process) runs in
# Chromium on answers routed in; it lives beside the e2e tests because it needs the browser.
pytestmark = pytest.mark.timeout(120)

ORIGIN = "http://api.test"


def test_swagger_ui_comes_from_the_package_and_keeps_to_its_policy(tmp_path: Path) -> None:
    app = create_app(
        ApiSettings(jwt_secret=SECRET, api_allowed_buckets=["dicompress-data"]),
        publisher=FakePublisher(),
        store=FakeStore(),
        sources=FakeSources(),
        stats=FakeStats(),
        keys=FakeKeys(),
        archives=FakeArchives(),
    )
    elsewhere: list[str] = []
    with TestClient(app) as api, sync_playwright() as playwright:

        def answer(route: Route) -> None:
            url = urlsplit(route.request.url)
            if f"{url.scheme}://{url.netloc}" != ORIGIN:
                elsewhere.append(route.request.url)
                route.abort()  # offline: only the API answers
                return
            got = api.get(url.path + (f"?{url.query}" if url.query else ""))
            route.fulfill(status=got.status_code, headers=dict(got.headers), body=got.content)

        browser = _chromium(playwright, tmp_path / "chromium-profile")
        try:
            page = browser.new_page()
            violations: list[str] = []
            page.on(
                "console",
                lambda m: (
                    violations.append(m.text) if "Content Security Policy" in m.text else None
                ),
            )
            page.route("**/*", answer)
            response = page.goto(f"{ORIGIN}/docs")
            assert response is not None
            assert "script-src 'self'" in response.headers["content-security-policy"]
            page.wait_for_selector(".opblock", timeout=30_000)  # the operations are drawn
            paths = page.locator(".opblock-summary-path").all_inner_texts()
        finally:
            browser.close()
    assert any("/jobs/{job_id}" in p for p in paths), paths[:10]
    assert elsewhere == []  # nothing fetched from a CDN or anywhere else
    assert violations == []
    assert TestClient(app).get("/redoc").status_code == 404  # FastAPI's CDN page is off
