"""From an ArchiveUploaded to a finished ingest: check where the archive is, open it, run the
ingest in a worker thread, publish its events from the event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from dicompress_infra.attempt_markers import register_attempt
from dicompress_ingest.errors import IngestAborted
from dicompress_ingest.ingest import Ingest, IngestContext
from dicompress_ingest.members import Caps
from dicompress_ingest.storage import S3Archive, S3Instances, missing
from dicompress_schemas import (
    ArchiveUploaded,
    IngestCompleted,
    IngestEventBase,
    IngestFailed,
    IngestTerminal,
    new_ingest_event_id,
)
from dicompress_schemas.attempts import (
    Attempt,
    ingest_attempts_folder,
    ingest_ceiling,
    terminal_seq,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from dicompress_infra.settings import CommonSettings

log = logging.getLogger(__name__)
_MAX_UNACKNOWLEDGED = 256  # bounded: a broker that stopped answering stalls the ingest soon

Send = Callable[[IngestEventBase], Coroutine[Any, Any, asyncio.Future[Any]]]


@dataclass(frozen=True)
class IngestRunner:
    """Runs ingests with the adapters it was built with (the composition root is `service`)."""

    client: S3Client
    settings: CommonSettings  # for the obstore clients of the instances' PUTs
    send: Send  # hands an event to the producer; the future of its acknowledgement
    caps: Caps
    worker: str
    allowed_buckets: frozenset[str]
    store_threads: int = 4

    async def __call__(self, request: ArchiveUploaded) -> IngestTerminal:
        return await asyncio.to_thread(
            self._run, request, _Sender(self.send, asyncio.get_running_loop())
        )

    def _run(
        self, request: ArchiveUploaded, emit: Callable[[IngestEventBase], None]
    ) -> IngestTerminal:
        attempt = Attempt(1)
        try:
            self._check_location(request)
            # Before the archive is opened, so that a re-run which finds it gone knows what
            # seqs the earlier runs may have used. The member count is known only once the
            # archive is read: the ceiling is the cap's.
            attempt = register_attempt(
                self.client,
                request.bucket,
                ingest_attempts_folder(request.tenant, request.ingest_id),
                self.worker,
                ingest_ceiling(self.caps.max_members),
            )
            source = self._open(request)
        except IngestAborted as exc:
            seq = terminal_seq(1, attempt.floor)
            failed = IngestFailed(
                event_id=new_ingest_event_id(request.ingest_id, seq),
                ingest_id=request.ingest_id,
                tenant=request.tenant,
                seq=seq,
                attempt=attempt.number,
                error_code=exc.error_code,
                reason=exc.reason,
                detail=exc.detail,
            )
            emit(failed)
            return failed
        context = IngestContext(
            source=source,
            store=S3Instances(self.client, self.settings),
            emit=emit,
            caps=self.caps,
            worker=self.worker,
            attempt=attempt.number,
            floor=attempt.floor,
            store_threads=self.store_threads,
        )
        return Ingest(request, context).run()

    def _check_location(self, request: ArchiveUploaded) -> None:
        """Only the tenant's own prefix in an allowed bucket: an event naming another tenant's
        object (a bug, or a forged message) is refused, not read."""
        prefix = f"{request.tenant}/"
        if request.bucket not in self.allowed_buckets or not request.key.startswith(prefix):
            raise IngestAborted(
                "archive-not-allowed",
                "the upload is not in this clinic's storage: upload it again through the API",
                f"s3://{request.bucket}/{request.key} is outside s3://*/{prefix} or the "
                f"allowed buckets {sorted(self.allowed_buckets)}",
            )
        if ".." in request.key.split("/"):
            raise IngestAborted(
                "archive-not-allowed", "the upload's name is not valid", repr(request.key)
            )

    def _open(self, request: ArchiveUploaded) -> S3Archive:
        try:
            return S3Archive(self.client, request.bucket, request.key)
        except ClientError as exc:
            if missing(exc):
                raise IngestAborted(
                    "archive-missing",
                    "the uploaded file is no longer in storage (deleted or expired): upload "
                    "the study again",
                    f"s3://{request.bucket}/{request.key}",
                ) from exc
            raise


class _Sender:
    """`emit` for the ingest's thread: member events are handed to the producer without
    waiting for each acknowledgement (one wait per event capped an ingest at ~100 members/s);
    a terminal event is sent only once every earlier one is acknowledged, and waited for, so
    the request's offset is committed only after the whole history is on the log."""

    def __init__(self, send: Send, loop: asyncio.AbstractEventLoop) -> None:
        self._send = send
        self._loop = loop
        self._unacknowledged: list[asyncio.Future[Any]] = []

    def __call__(self, event: IngestEventBase) -> None:
        terminal = isinstance(event, IngestCompleted | IngestFailed)
        if terminal:
            self._flush()
        delivery = asyncio.run_coroutine_threadsafe(self._send(event), self._loop).result()
        self._unacknowledged.append(delivery)
        if terminal or len(self._unacknowledged) >= _MAX_UNACKNOWLEDGED:
            self._flush()

    def _flush(self) -> None:
        pending, self._unacknowledged = self._unacknowledged, []
        if pending:
            asyncio.run_coroutine_threadsafe(_all(pending), self._loop).result()


async def _all(deliveries: list[asyncio.Future[Any]]) -> None:
    await asyncio.gather(*deliveries)
