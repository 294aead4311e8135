"""Pages the API serves from its own package (the viewer, the API docs): every file read once
into a table, so that no request path can escape it, and answered with the page's headers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from fastapi import Response

from dicompress_api.web.problems import problem_response

# The types every such page uses; a page adds its own (the viewer's SVG and WebAssembly).
TEXT_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
}


def load_files(directory: Path, media_types: Mapping[str, str]) -> dict[str, tuple[bytes, str]]:
    """Every file under `directory` of a type in `media_types`, by its path there
    ("viewer.js", "vendor/openjpeg/openjpegwasm_decode.wasm"): its bytes and media type."""
    return {
        path.relative_to(directory).as_posix(): (path.read_bytes(), media_types[path.suffix])
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.suffix in media_types
    }


def file_responder(
    files: Mapping[str, tuple[bytes, str]], headers: Mapping[str, str], missing: str
) -> Callable[[str], Response]:
    """The response to a request for file `name`: it, with `headers`; a 404 problem saying
    `missing` (with the name) when the table has no such file."""

    def respond(name: str) -> Response:
        found = files.get(name)
        if found is None:
            return problem_response(404, missing.format(name=repr(name)))
        body, media_type = found
        return Response(body, media_type=media_type, headers=dict(headers))

    return respond
