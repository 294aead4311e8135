"""The job's ZIP, streamed to S3 by a multipart upload as its entries are added.

The object appears only when the upload completes, so a reader never sees half a ZIP. Each run
of a job builds its ZIP from scratch under a new upload, so the archive can never hold an entry
twice. A run that fails or is cancelled aborts its upload; one that is killed cannot, and its
parts stay until the bucket's lifecycle rule (AbortIncompleteMultipartUpload, see
docs/NOTES.md) drops them; they are invisible meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from dicompress_compressor.storage import ObjectStore
from dicompress_compressor.zipstream import MIN_PART_SIZE, StreamingZip
from dicompress_infra.s3 import S3Uri
from dicompress_schemas.naming import candidates

log = logging.getLogger(__name__)

MAX_COLLISIONS = 1000


async def place_artifact(
    store: ObjectStore, target: S3Uri, name: str, job_id: str, overwrite: bool
) -> S3Uri | None:
    """Where the ZIP goes: `name` under `target`, or with `overwrite` off the first of
    `name-1`, `name-2`... that is free; an object this job wrote (in an earlier run) counts as
    free, so a re-run lands on the same name. None when all MAX_COLLISIONS are taken; raises
    S3UriError for a name that escapes `target`."""
    names = candidates(name)
    for _ in range(MAX_COLLISIONS):
        uri = S3Uri.parse(str(target.child(next(names))))
        if overwrite:
            return uri
        metadata = await store.head_metadata(uri)
        if metadata is None or metadata.get("job-id") == job_id:
            return uri
    return None


class ArtifactWriter:
    """`await open()`, `await add(name, data)`..., then `await finish()` or `await abort()`."""

    def __init__(
        self,
        store: ObjectStore,
        uri: S3Uri,
        metadata: dict[str, str],
        part_size: int = MIN_PART_SIZE,
    ) -> None:
        self.store = store
        self.uri = uri
        self.metadata = metadata
        self.zip = StreamingZip(part_size)
        self.upload_ms = 0.0
        self._upload_id: str | None = None
        self._etags: list[str] = []

    async def open(self) -> None:
        self._upload_id = await self.store.start_multipart(self.uri, self.metadata)

    async def add(self, name: str, data: bytes) -> None:
        for part in self.zip.add(name, data):
            await self._send(part)

    async def finish(self) -> int:
        """Send the rest and complete the upload; return the ZIP's size in bytes."""
        for part in self.zip.finish():
            await self._send(part)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await self.store.complete_multipart(self.uri, self._require_id(), self._etags)
        self.upload_ms += (loop.time() - started) * 1000.0
        self._upload_id = None
        return self.zip.size

    async def abort(self) -> None:
        """Drop what was sent; never raises (the job's own outcome matters more)."""
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is None:
            return
        with contextlib.suppress(Exception):
            await self.store.abort_multipart(self.uri, upload_id)
            log.info("artifact upload aborted", extra={"artifact": str(self.uri)})

    async def _send(self, part: bytes) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        number = len(self._etags) + 1
        self._etags.append(await self.store.upload_part(self.uri, self._require_id(), number, part))
        self.upload_ms += (loop.time() - started) * 1000.0

    def _require_id(self) -> str:
        if self._upload_id is None:
            raise RuntimeError("ArtifactWriter used before open() or after finish()/abort()")
        return self._upload_id
