"""The web viewer: a static page at /viewer/ (plain HTML, CSS and JS, no build step, no CDN) and
/viewer/config.json, which tells the page where the notifier's WebSocket listens.

The page authenticates every call itself (a bearer token from the URL fragment or a pasted one),
so these routes are public: they serve no data, only the page.
"""

# No `from __future__ import annotations`: FastAPI must see the closures' real annotations.

from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import JSONResponse, RedirectResponse, Response

from dicompress_api.problems import problem_response
from dicompress_api.settings import ApiSettings

STATIC_DIR = Path(__file__).parent / "static" / "viewer"
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


def load_assets(directory: Path = STATIC_DIR) -> dict[str, tuple[bytes, str]]:
    """Every servable file of the page by name, read once: the page is a handful of small
    files, and a fixed table leaves no path for a request to escape through."""
    return {
        path.name: (path.read_bytes(), _MEDIA_TYPES[path.suffix])
        for path in sorted(directory.iterdir())
        if path.is_file() and path.suffix in _MEDIA_TYPES
    }


def content_security_policy(settings: ApiSettings) -> str:
    """Only our own scripts run; the page talks to the API, the notifier and (following a
    download redirect) S3, and cannot be framed."""
    connect = ["'self'", _origin(settings.api_viewer_notifier_url)]
    if settings.s3_endpoint_url:
        connect.append(_origin(settings.s3_endpoint_url))
    return "; ".join(
        [
            "default-src 'self'",
            f"connect-src {' '.join(connect)}",
            "img-src 'self' data:",
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

    def asset(name: str) -> Response:
        found = assets.get(name)
        if found is None:
            return problem_response(404, f"the viewer has no file {name!r}; open /viewer/")
        body, media_type = found
        return Response(body, media_type=media_type, headers=headers)

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

    @router.get("/{name}")
    async def viewer_asset(name: str) -> Response:
        return asset(name)

    return router
