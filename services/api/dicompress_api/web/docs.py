"""`/docs`: the API's Swagger UI, served from the package under a strict Content-Security-Policy.

FastAPI's own page loads Swagger UI from a CDN (broken offline, and a third party's script on
a page that holds a clinic's token) and starts it with an inline script. Ours serves the
vendored Swagger UI (static/docs/vendor/swagger-ui, VENDORED.md says what and under which
licence) and an init script from the API's own origin: `script-src 'self'`, nothing else runs.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Response

from dicompress_api.web.packaged_files import TEXT_MEDIA_TYPES, file_responder, load_files

DOCS_DIR = Path(__file__).parent.parent / "static" / "docs"
# Swagger UI sets style attributes and draws its icons as data: SVGs; it fetches only our
# OpenAPI document
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


def docs_router(directory: Path = DOCS_DIR) -> APIRouter:
    """GET /docs (the page) and /docs/<asset>, from a table read once: no path escapes it."""
    router = APIRouter(prefix="/docs", include_in_schema=False)
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }

    asset = file_responder(
        load_files(directory, TEXT_MEDIA_TYPES),
        headers,
        "the API docs have no file {name}; open /docs",
    )

    @router.get("")
    async def docs_page() -> Response:
        return asset("index.html")

    @router.get("/{name:path}")
    async def docs_asset(name: str) -> Response:
        return asset(name)

    return router
