"""The viewer's rules in Chromium, on files served from disk (no services): honest states in
words, and a preview's slices appearing one by one (announced by SliceEncoded, listed with
their URL, fetched and decoded by the WebAssembly OpenJPEG in a worker) with the rest pending.
The decoded samples are compared with pydicom's decode of the same file."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Route, sync_playwright
from pydicom import dcmread
from pydicom.uid import JPEG2000
from tests.e2e.test_viewer_browser import _chromium

from dicompress_api.web.viewer import STATIC_DIR
from dicompress_compressor.encoder import EncodeOptions, encode_slice
from dicompress_compressor.preview.dataset import PreviewSliceSpec
from dicompress_compressor.preview.encode import make_preview_slice
from dicompress_schemas import Codec
from dicompress_stack.synthetic_ct import slice_bytes

# Not marked e2e: no service runs here. The page's code (or the app, in-process) runs in
# Chromium on answers routed in; it lives beside the e2e tests because it needs the browser.
pytestmark = pytest.mark.timeout(120)

ORIGIN = "http://viewer.test"
TYPES = {".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html"}

STATE_CHECKS = """async () => {
  const { describeState } = await import("/viewer/states.js");
  return {
    done: describeState({ status: "completed", total: 141, done: 141 }),
    partial: describeState({ status: "completed", total: 141, done: 138, failed: 3,
      errorCode: "not-dicom", reason: "InvalidDicomError: File is missing DICOM File Meta" }),
    short: describeState({ status: "completed", total: 141, done: 6 }),
    failed: describeState(
      { status: "failed", errorCode: "source-empty", reason: "ValueError('x')" }),
    unknown: describeState({ status: "failed", errorCode: "weird", reason: "Traceback ..." }),
    cancelled: describeState({ status: "cancelled", total: 10, done: 4, reason: "by user" }),
    running: describeState({ status: "running", total: 399, done: 212 }),
  };
}"""

PROGRESSIVE = """async () => {
  const { setToken } = await import("/viewer/api.js");
  const { SliceStack } = await import("/viewer/series.js");
  setToken("t");
  const changes = [];
  const stack = new SliceStack("job-1", (index) => changes.push(index));
  stack.setTotal(4);
  const before = stack.counts();
  stack.encoded(0, -10);
  stack.encoded(1, -8.75);
  const announced = { counts: stack.counts(), states: stack.slots.map((s) => s.state) };
  await stack.refreshList();
  const until = Date.now() + 20000;
  const tick = () => new Promise((r) => setTimeout(r, 20));
  while (stack.counts().ready < 2 && Date.now() < until) await tick();
  stack.failed(3, "this slice could not be made");
  const image = stack.slots[1].image;
  return {
    before, announced,
    after: { counts: stack.counts(), states: stack.slots.map((s) => s.state) },
    image: { width: image.width, height: image.height, samples: Array.from(image.samples),
             slope: image.slope, intercept: image.intercept, windows: image.windows,
             photometric: image.photometric, position: stack.slots[1].position },
  };
}"""


def test_states_say_what_happened_in_words_with_the_detail_folded(tmp_path: Path) -> None:
    result = _run(tmp_path, STATE_CHECKS, {})
    assert result["done"]["state"] == "completed"
    partial = result["partial"]
    assert partial["state"] == "partial"
    assert partial["label"] == "Completed with 3 slices missing"
    assert (
        "138 of 141 slices made; 3 could not be made (a file is not a DICOM image)"
        in (partial["line"])
    )
    assert "InvalidDicomError" in partial["detail"]  # kept, folded away
    assert "Error" not in partial["line"]
    assert result["short"]["state"] == "partial"  # 6 of 141 is not "completed"
    assert result["failed"]["line"] == "Failed: no images were found to work on."
    assert "Traceback" not in result["unknown"]["line"]
    assert result["cancelled"]["state"] == "cancelled"
    assert result["cancelled"]["line"] == "Cancelled after 4 of 10 slices."
    assert result["running"]["label"] == "212 of 399 slices"


def test_preview_slices_appear_one_by_one_decoded_in_the_browser(tmp_path: Path) -> None:
    files = [encode_slice(slice_bytes(i, 4, 64, 3), EncodeOptions(rate=10)).data for i in range(2)]
    result = _run(tmp_path, PROGRESSIVE, _two_of_four_listed(files))

    assert result["before"] == {"ready": 0, "encoded": 0, "failed": 0, "total": 4}
    # a SliceEncoded counts at once, before its URL is known; the others stay pending
    assert result["announced"]["counts"]["encoded"] == 2
    assert result["announced"]["states"] == ["announced", "announced", "pending", "pending"]
    assert result["after"]["states"] == ["ready", "ready", "pending", "failed"]
    assert result["after"]["counts"] == {"ready": 2, "encoded": 2, "failed": 1, "total": 4}

    image = result["image"]
    expected = dcmread(io.BytesIO(files[1]))
    assert (image["width"], image["height"]) == (expected.Columns, expected.Rows)
    assert np.array_equal(np.asarray(image["samples"]), expected.pixel_array.ravel())
    assert (image["slope"], image["intercept"]) == (1, -1024)
    assert image["windows"][0] == {"center": 40, "width": 400}
    assert image["photometric"] == "MONOCHROME2"
    assert image["position"] == pytest.approx(float(expected.ImagePositionPatient[2]))


PREVIEW_SYNTAXES = {Codec.HTJ2K_LOSSY: "1.2.840.10008.1.2.4.203", Codec.J2K_LOSSY: JPEG2000}


@pytest.mark.parametrize("codec", list(PREVIEW_SYNTAXES))
def test_a_preview_slice_of_each_preview_codec_is_decoded_in_the_browser(
    tmp_path: Path, codec: Codec
) -> None:
    """Real preview slices (2x2 binned, rate 10) in each codec a preview may ask for, HTJ2K
    the default, through the viewer's own path: listed, fetched, parsed, and decoded by the
    vendored OpenJPEG WebAssembly (2.5, which reads HTJ2K) in its worker, to the very samples
    pydicom decodes."""
    files = [
        make_preview_slice(
            [slice_bytes(i, 4, 128, 3)],
            PreviewSliceSpec(
                index=i,
                bin_xy=2,
                bin_z=1,
                codec=codec,
                rate=10.0,
                series_uid="1.2.826.0.1.3680043.8.498.1",
                sop_uid=f"1.2.826.0.1.3680043.8.498.1.{i + 1}",
                spacing_mm=1.25,
            ),
        ).encoded.data
        for i in range(2)
    ]
    result = _run(tmp_path, PROGRESSIVE, _two_of_four_listed(files))

    assert result["after"]["states"] == ["ready", "ready", "pending", "failed"]
    image = result["image"]
    expected = dcmread(io.BytesIO(files[1]))
    assert expected.file_meta.TransferSyntaxUID == PREVIEW_SYNTAXES[codec]
    assert (image["width"], image["height"]) == (64, 64)
    assert np.array_equal(np.asarray(image["samples"]), expected.pixel_array.ravel())
    assert image["position"] == pytest.approx(float(expected.ImagePositionPatient[2]))


def _two_of_four_listed(files: list[bytes]) -> dict[str, tuple[bytes, str]]:
    """The answers of a preview job of four slices whose first two are made: its slice
    listing (their presigned URLs) and the slices' bytes at those URLs."""
    listing = {
        "jobId": "job-1",
        "slicesTotal": 4,
        "slices": [
            {"index": i, "status": "encoded", "url": f"{ORIGIN}/s3/slice-{i}.dcm",
             "occurredAt": "2026-01-01T00:00:00Z"}
            for i in range(2)
        ],
    }  # fmt: skip
    extra = {"/jobs/job-1/slices": (json.dumps(listing).encode(), "application/json")}
    extra |= {f"/s3/slice-{i}.dcm": (data, "application/dicom") for i, data in enumerate(files)}
    return extra


def _run(tmp_path: Path, script: str, extra: dict[str, tuple[bytes, str]]) -> Any:
    """Evaluate `script` on a blank page of the routed origin: the viewer's files from disk
    (subfolders included), `extra` paths answered as given."""

    def serve(route: Route) -> None:
        path = route.request.url.removeprefix(ORIGIN).split("?")[0]
        if path in extra:
            body, kind = extra[path]
            route.fulfill(body=body, content_type=kind)
            return
        if path == "/viewer/blank.html":
            route.fulfill(body="<!doctype html><title>checks</title>", content_type="text/html")
            return
        file = STATIC_DIR / path.removeprefix("/viewer/")
        if path.startswith("/viewer/") and file.is_file() and file.suffix in TYPES:
            route.fulfill(body=file.read_bytes(), content_type=TYPES[file.suffix])
            return
        route.fulfill(status=404)

    with sync_playwright() as playwright:
        browser = _chromium(playwright, tmp_path / "chromium-profile")
        try:
            page = browser.new_page()
            page.route(f"{ORIGIN}/**", serve)
            page.goto(f"{ORIGIN}/viewer/blank.html")
            return page.evaluate(script)
        finally:
            browser.close()
