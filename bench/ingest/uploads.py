"""The API's two ways in for a study's ZIP, as a client uses them, and the wait until the study
is indexed.

- presigned: `POST /uploads` (fileName, size, contentType) answers the part plan with a
  presigned URL per part; the parts go straight to S3 (`PARALLEL_PARTS` at once), then
  `POST /uploads/{id}/complete` with their ETags answers the ingest id.
- streamed: `PUT /uploads/stream?fileName=...` with the file as the body (Content-Length set, as
  a client that knows its file sends it), answering the ingest id.

Then `GET /ingests/{id}` is polled until its status is completed (the projection has indexed the
study), and so is the projection's row in Postgres directly (what that route reads), for when
the route is missing. Which of these routes the API has is read from its OpenAPI document first.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

PARALLEL_PARTS = 4
BODY_CHUNK = 1024 * 1024
POLL_INTERVAL_S = 0.2
STATUS_ROUTE = "status: GET /ingests/{id}"
# named "<what needs it>: <route>"
ROUTES = {
    "presigned: POST /uploads": ("post", re.compile(r"^/uploads$")),
    "presigned: POST /uploads/{id}/complete": (
        "post",
        re.compile(r"^/uploads/\{[^}/]+\}/complete$"),
    ),
    "streamed: PUT /uploads/stream": ("put", re.compile(r"^/uploads/stream$")),
    STATUS_ROUTE: ("get", re.compile(r"^/ingests/\{[^}/]+\}$")),
}


@dataclass(frozen=True)
class Uploaded:
    """An upload the API accepted: its ingest, how long the bytes took, and when it answered."""

    ingest_id: uuid.UUID
    seconds: float
    completed_at: float  # perf_counter when the API's last answer arrived


async def missing_routes(http: httpx.AsyncClient) -> list[str]:
    """The routes of ROUTES that the API's OpenAPI document does not list."""
    answer = await http.get("/openapi.json")
    answer.raise_for_status()
    paths: dict[str, dict[str, Any]] = answer.json().get("paths", {})
    return [
        name
        for name, (method, pattern) in ROUTES.items()
        if not any(pattern.match(path) and method in ops for path, ops in paths.items())
    ]


async def presigned_upload(http: httpx.AsyncClient, path: Path, size: int) -> Uploaded:
    """Upload `path` (`size` bytes) by presigned multipart; seconds from the first request to
    the answer of the complete call."""
    started = time.perf_counter()
    begun = _ok(
        await http.post(
            "/uploads",
            json={"fileName": path.name, "size": size, "contentType": "application/zip"},
        )
    )
    upload_id = begun["uploadId"]
    part_size = int(begun["partSize"])
    gate = asyncio.Semaphore(PARALLEL_PARTS)
    async with httpx.AsyncClient(timeout=httpx.Timeout(120.0)) as s3:

        async def send(part: dict[str, Any]) -> dict[str, Any]:
            number = int(part["partNumber"])
            async with gate:
                data = await asyncio.to_thread(
                    _read_at, path, (number - 1) * part_size, int(part["size"])
                )
                answer = await s3.put(part["url"], content=data)
            answer.raise_for_status()
            return {"partNumber": number, "etag": answer.headers["ETag"]}

        parts = await asyncio.gather(*(send(part) for part in begun["missingParts"]))
    done = _ok(await http.post(f"/uploads/{upload_id}/complete", json={"parts": parts}))
    finished = time.perf_counter()
    return Uploaded(uuid.UUID(done["ingestId"]), finished - started, finished)


async def streamed_upload(http: httpx.AsyncClient, path: Path, size: int) -> Uploaded:
    """Upload `path` (`size` bytes) as the body of one request; seconds from its start to the
    API's answer."""
    started = time.perf_counter()
    answer = await http.put(
        "/uploads/stream",
        params={"fileName": path.name},
        content=_chunks(path),
        headers={"Content-Type": "application/zip", "Content-Length": str(size)},
    )
    done = _ok(answer)
    finished = time.perf_counter()
    return Uploaded(uuid.UUID(done["ingestId"]), finished - started, finished)


async def wait_indexed(http: httpx.AsyncClient, ingest_id: uuid.UUID, timeout_s: float) -> float:
    """Poll `GET /ingests/{id}` until its status is completed; the perf_counter time it was
    first seen so. A 404 means the projection has not seen the ingest yet; 429 waits."""
    async with asyncio.timeout(timeout_s):
        while True:
            answer = await http.get(f"/ingests/{ingest_id}")
            if answer.status_code == 200:
                status = answer.json().get("status")
                if status == "completed":
                    return time.perf_counter()
                if status == "failed":
                    raise RuntimeError(f"ingest {ingest_id} failed: {answer.text[:500]}")
            elif answer.status_code == 429:
                await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
                continue
            elif answer.status_code != 404:
                raise RuntimeError(f"GET /ingests/{ingest_id}: {answer.status_code} {answer.text}")
            await asyncio.sleep(POLL_INTERVAL_S)


async def wait_projected(database_url: str, ingest_id: uuid.UUID, timeout_s: float) -> float | None:
    """Poll the projection's `ingests` row (what GET /ingests/{id} reads) until its status is
    completed; the perf_counter time it was first seen so, or None if the database has no such
    table (the study index is not deployed)."""
    conn = await asyncpg.connect(database_url)
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                try:
                    status = await conn.fetchval(
                        "SELECT status FROM ingests WHERE ingest_id = $1", ingest_id
                    )
                except asyncpg.UndefinedTableError:
                    return None
                if status == "completed":
                    return time.perf_counter()
                if status == "failed":
                    raise RuntimeError(f"ingest {ingest_id} failed (projection)")
                await asyncio.sleep(POLL_INTERVAL_S)
    finally:
        await conn.close()


async def not_measured() -> None:
    """Stands in for a wait that cannot be made."""


def _ok(answer: httpx.Response) -> dict[str, Any]:
    if answer.status_code >= 300:
        raise RuntimeError(
            f"{answer.request.method} {answer.request.url.path}: {answer.status_code} "
            f"{answer.text[:500]}"
        )
    body: dict[str, Any] = answer.json()
    return body


def _read_at(path: Path, offset: int, size: int) -> bytes:
    with path.open("rb") as file:
        file.seek(offset)
        return file.read(size)


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(BODY_CHUNK):
            yield chunk
