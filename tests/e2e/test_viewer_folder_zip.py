"""A folder dropped on the page becomes one ZIP built in the browser (zip.js): Python's zipfile
reads it back with every name, byte and CRC, UTF-8 names included, and the same files give the
same bytes (so an interrupted upload of a folder resumes on the same object)."""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from tests.e2e.test_viewer_browser import _chromium, _serve_static

# Not marked e2e: no service runs here. The page's code (or the app, in-process) runs in
# Chromium on answers routed in; it lives beside the e2e tests because it needs the browser.
pytestmark = pytest.mark.timeout(120)

ZIP_TWICE = """async (files) => {
  const { zipFiles } = await import("/viewer/zip.js");
  const entries = () => files.map(({ name, data }) => ({
    name,
    file: new File([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))], name.split("/").pop(),
                   { lastModified: Date.UTC(2026, 11, 6, 5, 0, 0) }),
  }));
  const read = [];
  const bytesOf = async (blob) => new Uint8Array(await blob.arrayBuffer());
  const first = await bytesOf(await zipFiles(entries(), (n) => read.push(n)));
  const second = await bytesOf(await zipFiles(entries()));
  const b64 = (bytes) => btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
  return { first: b64(first), second: b64(second), read };
}"""


def test_a_dropped_folder_zips_in_the_browser_exactly(tmp_path: Path) -> None:
    files = {
        "CT Study/DICOMDIR": b"DICM" * 10,
        "CT Study/series 1/IM0001": bytes(range(256)) * 40,
        "CT Study/series 1/IM0002": b"",  # an empty file is still a member
        "CT Study/Séries 2/ÄBC-ü.dcm": b"\x00\xff" * 5000,
    }
    payload = [{"name": n, "data": base64.b64encode(d).decode()} for n, d in files.items()]
    with sync_playwright() as playwright:
        browser = _chromium(playwright, tmp_path / "chromium-profile")
        try:
            page = browser.new_page()
            page.route("http://viewer.test/**", _serve_static)
            page.goto("http://viewer.test/viewer/blank.html")
            result = page.evaluate(ZIP_TWICE, payload)
        finally:
            browser.close()
    first = base64.b64decode(result["first"])
    assert first == base64.b64decode(result["second"])  # the same files, the same bytes
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.testzip() is None  # every CRC holds
        assert archive.namelist() == list(files)
        assert {name: archive.read(name) for name in archive.namelist()} == files
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}
    assert sum(result["read"]) == sum(len(d) for d in files.values())
