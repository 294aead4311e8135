"""The web viewer: a static page at /viewer/ (plain HTML, CSS and JS, no build step, no CDN) and
/viewer/config.json, which tells the page where the notifier's WebSocket listens. The page
decodes JPEG 2000 itself with a vendored WebAssembly build of OpenJPEG (static/viewer/vendor/).

The page authenticates every call itself (a bearer token from the URL fragment or a pasted one),
so these routes are public: they serve no data, only the page.
"""

# No `from __future__ import annotations`: FastAPI must see the closures' real annotations.

from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import JSONResponse, RedirectResponse, Response

from dicompress_api.settings import ApiSettings
from dicompress_api.web.packaged_files import TEXT_MEDIA_TYPES, file_responder, load_files

STATIC_DIR = Path(__file__).parent.parent / "static" / "viewer"
_MEDIA_TYPES = {
    **TEXT_MEDIA_TYPES,
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",  # WebAssembly.instantiateStreaming insists on this type
}
# Where AWS serves presigned URLs when no S3 endpoint is configured.
_AWS_S3 = "https://*.amazonaws.com"


def load_assets(directory: Path = STATIC_DIR) -> dict[str, tuple[bytes, str]]:
    """Every servable file of the page by its path under `directory` ("viewer.js",
    "vendor/openjpeg/openjpegwasm_decode.wasm"), read once: the page is a handful of small
    files, and a fixed table leaves no path for a request to escape through."""
    return load_files(directory, _MEDIA_TYPES)


def content_security_policy(settings: ApiSettings) -> str:
    """Only our own scripts run (and compile our own WebAssembly decoder: 'wasm-unsafe-eval'
    allows WebAssembly and nothing else); the page talks to the API, the notifier and S3
    (presigned slices, images and upload parts), and cannot be framed."""
    s3 = _origin(settings.s3_endpoint_url) if settings.s3_endpoint_url else _AWS_S3
    connect = ["'self'", _origin(settings.api_viewer_notifier_url), s3]
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'wasm-unsafe-eval'",
            "worker-src 'self'",
            f"connect-src {' '.join(connect)}",
            f"img-src 'self' data: blob: {s3}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def viewer_router(settings: ApiSettings, directory: Path = STATIC_DIR) -> APIRouter:
    """GET /viewer/ (the page), /viewer/config.json and /viewer/<asset>."""
    router = APIRouter(prefix="/viewer", tags=["viewer"], include_in_schema=False)
    assets = load_assets(directory)
    headers = {
        "Content-Security-Policy": content_security_policy(settings),
        # the token travels in the fragment, which no Referer carries; be strict anyway
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-cache",
    }
    config = {"notifierUrl": settings.api_viewer_notifier_url}

    asset = file_responder(assets, headers, "the viewer has no file {name}; open /viewer/")

    @router.get("")
    async def viewer_root() -> RedirectResponse:
        """/viewer -> /viewer/, so the page's relative asset links resolve."""
        return RedirectResponse("/viewer/", status_code=308)

    @router.get("/")
    async def viewer_page() -> Response:
        return asset("index.html")

    @router.get("/config.json")
    async def viewer_config() -> JSONResponse:
        return JSONResponse(config, headers=headers)

    @router.get("/{name:path}")
    async def viewer_asset(name: str) -> Response:
        return asset(name)

    return router
