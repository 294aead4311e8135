"""The viewer shows the CT (issue 15), in Debian's Chromium on the real services: a study is
uploaded on the page (presigned multipart from the browser), its thumbnails and 3D snapshots
appear, a series opens on its preview decoded in the browser (OpenJPEG WebAssembly), the page
scrolls and changes the window, and the canvas holds exactly the decoded DICOM with that window
applied (within one grey level, against pydicom's decode of the same slice). Screenshots at
desktop and 390 px widths go to test-output/viewer/; at 390 px nothing overflows.

Also prints (not asserted) the time from opening the series to its first slice drawn and the
frame rate of scrolling through the preview."""

from __future__ import annotations

import io
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from bench.bench_viewer import SCROLL_BENCH
from playwright.sync_api import Page, sync_playwright
from pydicom import dcmread
from tests.e2e.test_viewer_browser import _chromium

from dicompress_infra.auth import issue_token
from dicompress_stack.net import free_port
from dicompress_stack.synthetic_study import StudySpec, write_study_zip
from dicompress_stack.testing import ServiceRunner

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

TENANT = "clinic-viewer-study"
SPEC = StudySpec(seed=7, slices=16, size=64, scout_size=64, layout="pacs", dose_report=False)
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "viewer"
WAIT_MS = 90_000


# Every distinct "encoded/total" the slice viewer showed, frame by frame.
PROGRESS_RECORDER = """
window.progressSeen = [];
const record = () => {
  const stage = document.getElementById("stage");
  if (stage && stage.dataset.total) {
    const now = `${stage.dataset.encoded}/${stage.dataset.total}`;
    if (window.progressSeen.at(-1) !== now) window.progressSeen.push(now);
  }
  requestAnimationFrame(record);
};
requestAnimationFrame(record);
"""


def grey(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """The DICOM linear window (PS3.3 C.11.2.1.2.1) to 0-255, as the page computes it."""
    low = center - 0.5 - (width - 1) / 2
    high = center - 0.5 + (width - 1) / 2
    inside = np.floor(((values - (center - 0.5)) / (width - 1) + 0.5) * 255 + 0.5)
    return np.where(values <= low, 0, np.where(values > high, 255, inside))


def no_overflow(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def canvas_greys(page: Page) -> tuple[int, int, list[int]]:
    """Width, height and the red channel of every pixel of the slice canvas."""
    found: dict[str, Any] = page.evaluate(
        """() => {
        const canvas = document.getElementById("slice-canvas");
        const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
        const red = [];
        for (let i = 0; i < data.length; i += 4) red.push(data[i]);
        return { width: canvas.width, height: canvas.height, red };
    }"""
    )
    return int(found["width"]), int(found["height"]), list(found["red"])


def test_a_study_uploaded_on_the_page_is_shown_slice_by_slice_with_exact_pixels(
    service_runner: ServiceRunner, test_env: dict[str, str], tmp_path: Path
) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    bucket = test_env["S3_BUCKET"]
    archive = tmp_path / "ct-study.zip"
    write_study_zip(SPEC, archive)
    env = {
        name: json.dumps([bucket])
        for name in (
            "API_ALLOWED_BUCKETS",
            "INGEST_ALLOWED_BUCKETS",
            "COMPRESSOR_ALLOWED_BUCKETS",
            "RENDERER_ALLOWED_BUCKETS",
        )
    }
    began = time.monotonic()
    for name in ("progress", "ingest", "products", "compressor", "renderer"):
        service_runner.start(name, env=env)
    api_port = free_port()
    notifier = service_runner.start(
        "notifier", env={**env, "NOTIFIER_ALLOWED_ORIGINS": f"http://127.0.0.1:{api_port}"}
    )
    api = service_runner.start(
        "api",
        env={**env, "API_PORT": str(api_port), "API_VIEWER_NOTIFIER_URL": notifier.ws_url},
    )
    token = issue_token(test_env["JWT_SECRET"], TENANT, "dicompress")
    marks: dict[str, float] = {"services up": time.monotonic() - began}

    with sync_playwright() as playwright:
        browser = _chromium(playwright, tmp_path / "chromium-profile")
        try:
            page = browser.new_page()
            page.set_viewport_size({"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "console",
                lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
            )
            page.add_init_script(PROGRESS_RECORDER)
            page.goto(f"{api.base_url}/viewer/#token={token}")
            page.wait_for_selector("body[data-ready=true][data-view=studies]")

            # upload on the page: presigned multipart from the browser, then the ingest
            page.set_input_files("#file-input", str(archive))
            page.wait_for_selector("article.study", timeout=WAIT_MS)
            marks["study listed"] = time.monotonic() - began
            study = page.locator("article.study").first
            assert "UUID" not in study.inner_text()
            assert study.locator(".patient").inner_text() not in ("", "Unnamed patient")
            assert "series" in study.locator(".meta").inner_text()

            # open a CT series as soon as its preview is asked for: its slices appear as they
            # are encoded, decoded in the browser
            preview_pill = page.locator("li.series .pill[data-kind=preview]").first
            preview_pill.wait_for(timeout=WAIT_MS)
            state_when_opened = preview_pill.inner_text()
            preview_pill.locator("xpath=ancestor::li[1]").locator("a.open").click()
            page.wait_for_selector("body[data-view=series]")
            page.wait_for_selector("#stage[data-drawn]:not([data-drawn=''])", timeout=WAIT_MS)
            first_draw_ms = int(page.get_attribute("#stage", "data-first-draw-ms") or -1)
            page.wait_for_function(
                "() => document.getElementById('stage').dataset.ready"
                " === document.getElementById('stage').dataset.total",
                timeout=WAIT_MS,
            )
            marks["preview shown"] = time.monotonic() - began
            total = int(page.get_attribute("#stage", "data-total") or 0)
            assert total == SPEC.slices  # the preview bins in-plane only: one slice each
            assert page.get_attribute("#preview-state", "data-state") == "completed"
            assert page.locator("#slice-strip .cell[data-state=ready]").count() == total
            seen: list[str] = page.evaluate("window.progressSeen")

            # scroll: keys and the wheel
            page.focus("#stage")
            for _ in range(5):
                page.keyboard.press("ArrowDown")
            page.mouse.move(640, 400)
            page.mouse.wheel(0, 120)
            page.wait_for_function(
                "() => { const s = document.getElementById('stage').dataset;"
                " return Number(s.index) >= 5 && s.drawn === s.index; }"
            )
            index = int(page.get_attribute("#stage", "data-index") or -1)
            assert f"Slice {index + 1} of {total}" in page.inner_text("#slice-readout")
            assert page.inner_text("#marker-left") == "R"  # axial: the patient's right on the left
            assert page.inner_text("#marker-top") == "A"

            # a window preset: Bone
            page.select_option("#window-preset", "400/1800")
            page.wait_for_selector("#stage[data-window-center='400'][data-window-width='1800']")
            page.wait_for_function(
                f"() => document.getElementById('stage').dataset.drawn === '{index}'"
            )
            width, height, red = canvas_greys(page)
            sop = page.get_attribute("#stage", "data-sop")

            page.screenshot(path=str(OUTPUT / "series-desktop.png"), full_page=True)
            bench = page.evaluate(SCROLL_BENCH, 3 * total)

            page.set_viewport_size({"width": 390, "height": 844})
            page.wait_for_timeout(100)  # a layout pass
            assert no_overflow(page), "the series view overflows at 390 px"
            page.screenshot(path=str(OUTPUT / "series-390.png"), full_page=True)

            # full resolution on demand: the unbinned preview, asked for now, drawn as it comes
            page.set_viewport_size({"width": 1280, "height": 900})
            binned_width = width
            page.check("#full-resolution")
            page.wait_for_function(
                f"""() => document.getElementById('slice-canvas').width === {SPEC.size}
                     && document.getElementById('stage').dataset.drawn !== ''""",
                timeout=WAIT_MS,
            )
            marks["full resolution drawn"] = time.monotonic() - began
            assert binned_width < SPEC.size  # the first view was the binned preview

            # the thumbnails and 3D snapshots appear on the studies as they are made
            page.click("#back-to-study")
            page.wait_for_function(
                """() => [...document.querySelectorAll('.series .images img')]
                     .filter((img) => img.complete && img.naturalWidth > 0).length >= 4""",
                timeout=WAIT_MS,
            )
            marks["images shown"] = time.monotonic() - began
            ct_rows = page.locator("li.series:has(.pill[data-kind=preview])")
            assert ct_rows.count() == 2  # soft tissue and bone; the scout has no products
            page.screenshot(path=str(OUTPUT / "studies-desktop.png"), full_page=True)
            page.set_viewport_size({"width": 390, "height": 844})
            page.wait_for_timeout(100)
            assert no_overflow(page), "the studies view overflows at 390 px"
            page.screenshot(path=str(OUTPUT / "studies-390.png"), full_page=True)
            page.set_viewport_size({"width": 360, "height": 740})
            assert no_overflow(page), "the studies view overflows at 360 px"
            assert errors == []
        except BaseException:
            page.screenshot(path=str(OUTPUT / "failure.png"), full_page=True)
            print(f"page errors: {errors}")
            raise
        finally:
            browser.close()

    # the same slice decoded by pydicom, windowed: the page shows exactly that
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=api.base_url, headers=auth, timeout=30) as http:
        study_id = http.get("/studies").json()["items"][0]["id"]
        products = http.get(f"/studies/{study_id}/products").json()["items"]
        previews = [p for p in products if p["kind"] == "preview"]
        slices = [s for p in previews for s in http.get(p["slicesUrl"]).json()["slices"]]
    match = [s for s in slices if s.get("sopInstanceUid") == sop]
    assert len(match) == 1, (sop, [s.get("sopInstanceUid") for s in slices])
    with urllib.request.urlopen(match[0]["url"], timeout=30) as answer:  # noqa: S310 (presigned)
        ds = dcmread(io.BytesIO(answer.read()))
    assert match[0]["index"] == index
    modality = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(
        ds.RescaleIntercept
    )
    expected = grey(modality, 400, 1800)
    shown = np.asarray(red, dtype=np.float64).reshape(height, width)
    assert shown.shape == expected.shape
    difference = np.abs(shown - expected)
    assert difference.max() <= 1, f"{int((difference > 1).sum())} pixels differ by more than 1"
    assert shown.std() > 0  # not a blank image

    print(
        f"\nviewer: first slice drawn {first_draw_ms} ms after opening the series "
        f"({total} slices of {width}x{height}); scroll {bench['frames']} frames in "
        f"{bench['seconds']:.2f} s = {bench['frames'] / bench['seconds']:.0f} frames/s; "
        f"largest grey difference {difference.max():.0f}; preview {state_when_opened!r} when "
        f"opened, then the page showed (encoded/total) {seen}; seconds: {marks}"
    )
