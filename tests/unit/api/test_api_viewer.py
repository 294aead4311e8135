"""The viewer's routes: the page and its assets from a fixed table, its config, strict headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from dicompress_api.settings import ApiSettings
from dicompress_api.web.problems import install_problem_handlers
from dicompress_api.web.viewer import STATIC_DIR, viewer_router

NOTIFIER = "ws://notify.example:9000/ws"


@pytest.fixture
async def viewer() -> AsyncIterator[httpx.AsyncClient]:
    settings = ApiSettings(
        api_viewer_notifier_url=NOTIFIER, s3_endpoint_url="http://s3.example:9001"
    )
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(viewer_router(settings))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client


async def test_the_page_and_its_scripts_are_served_with_a_strict_policy(
    viewer: httpx.AsyncClient,
) -> None:
    page = await viewer.get("/viewer/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.text == (STATIC_DIR / "index.html").read_text()
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "connect-src 'self' ws://notify.example:9000 http://s3.example:9001" in policy
    assert "frame-ancestors 'none'" in policy
    # the decoder is WebAssembly: compiled under 'wasm-unsafe-eval', which allows nothing else
    assert "script-src 'self' 'wasm-unsafe-eval'" in policy
    assert "img-src 'self' data: blob: http://s3.example:9001" in policy  # presigned images
    assert page.headers["referrer-policy"] == "no-referrer"
    for name in ("viewer.js", "feed.js", "jobstate.js", "dicom.js", "decode-worker.js"):
        script = await viewer.get(f"/viewer/{name}")
        assert script.status_code == 200, name
        assert script.headers["content-type"].startswith("text/javascript")
    css = await viewer.get("/viewer/viewer.css")
    assert css.headers["content-type"].startswith("text/css")


async def test_config_names_the_notifier_and_viewer_redirects_to_the_slash(
    viewer: httpx.AsyncClient,
) -> None:
    config = await viewer.get("/viewer/config.json")
    assert config.json() == {"notifierUrl": NOTIFIER}
    bare = await viewer.get("/viewer")
    assert bare.status_code == 308
    assert bare.headers["location"] == "/viewer/"


@pytest.mark.parametrize("name", ["nope.js", "..%2Fviewer.py", "%2E%2E%2Fsettings.py"])
async def test_only_the_page_files_are_served(viewer: httpx.AsyncClient, name: str) -> None:
    response = await viewer.get(f"/viewer/{name}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_every_page_file_the_html_links_exists() -> None:
    html = (STATIC_DIR / "index.html").read_text()
    for name in ("viewer.css", "viewer.js"):
        assert f'"{name}"' in html
        assert Path(STATIC_DIR / name).is_file()
    # the page loads nothing from elsewhere: it works offline
    assert "http" not in html


async def test_the_vendored_decoder_is_served_with_its_webassembly_type(
    viewer: httpx.AsyncClient,
) -> None:
    glue = await viewer.get("/viewer/vendor/openjpeg/openjpegwasm_decode.js")
    assert glue.status_code == 200
    assert glue.headers["content-type"].startswith("text/javascript")
    wasm = await viewer.get("/viewer/vendor/openjpeg/openjpegwasm_decode.wasm")
    assert wasm.status_code == 200
    assert wasm.headers["content-type"] == "application/wasm"  # instantiateStreaming needs it
    assert wasm.content[:4] == b"\0asm"
    # its version and licence are recorded beside it
    note = (STATIC_DIR / "vendor" / "openjpeg" / "VENDORED.md").read_text()
    assert "1.3.6" in note
    assert "MIT" in note
    assert "BSD" in note


async def test_no_path_escapes_the_static_folder(viewer: httpx.AsyncClient) -> None:
    for name in ("vendor/../../viewer.py", "vendor/openjpeg/VENDORED.md", "vendor/"):
        response = await viewer.get(f"/viewer/{name}")
        assert response.status_code == 404, name
