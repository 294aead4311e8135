"""One ingest: read the archive's members in order, store each DICOM object once under a key
derived from its UIDs, and emit one event per member, then the terminal event.

Events follow the ingest's sequence: IngestStarted 1, member i (skipped ones aside) at 2+i,
the terminal event right after the last one emitted. Their ids come from (ingest_id, seq), so a
re-run after a crash emits the same identities (readers drop the duplicates) and finds the
objects already stored (same key, same SHA-256: not written again). A re-run's IngestFailed
goes past every seq an earlier run may have used (its `floor`, by the contract's `attempts`
rule), so a re-run that fails earlier than its first run had got is not dropped as a
duplicate. Synchronous: it runs in a worker thread, since unzipping and hashing are CPU work
and boto3 blocks.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any, Protocol

from dicompress_ingest.archive import ArchiveSource, Counted, Member, members
from dicompress_ingest.errors import IngestAborted
from dicompress_ingest.header import Inspected, Rejection, inspect
from dicompress_ingest.members import Budget, Caps, is_skipped, unsafe_reason
from dicompress_schemas import (
    ArchiveUploaded,
    IngestCompleted,
    IngestEventBase,
    IngestFailed,
    IngestStarted,
    IngestTerminal,
    InstanceKind,
    InstanceStored,
    MemberRejected,
    new_ingest_event_id,
)
from dicompress_schemas.attempts import terminal_seq
from dicompress_schemas.studies import instance_key, unfiled_key

log = logging.getLogger(__name__)

Emit = Callable[[IngestEventBase], None]
SPOOL_IN_MEMORY = 64 * 1024 * 1024  # a member larger than this is spooled to a temporary file


class InstanceStore(Protocol):
    def put(
        self, bucket: str, key: str, fp: IO[bytes], size: int, sha256: str, rerun: bool
    ) -> bool: ...


@dataclass(frozen=True)
class IngestContext:
    """What one run needs besides the request: adapters, caps and who we are."""

    source: ArchiveSource
    store: InstanceStore
    emit: Emit
    caps: Caps
    worker: str
    attempt: int = 1
    floor: int = 1  # the lowest seq a failure may take (`dicompress_schemas.attempts`)
    store_threads: int = 4


@dataclass
class _Spooled:
    member: Member
    fp: IO[bytes]
    size: int
    sha256: str


@dataclass
class _Tally:
    members: int = 0
    skipped: int = 0
    images: int = 0
    non_images: int = 0
    rejected: int = 0
    bytes_stored: int = 0

    def counts(self) -> dict[str, int]:
        return {
            "members": self.members,
            "instances_stored": self.images + self.non_images,
            "images": self.images,
            "non_images": self.non_images,
            "rejected": self.rejected,
            "skipped": self.skipped,
            "bytes_stored": self.bytes_stored,
        }


class Ingest:
    """One run of one ingest; `run()` returns its terminal event, already emitted."""

    def __init__(self, request: ArchiveUploaded, context: IngestContext) -> None:
        self.request = request
        self.context = context
        self.tally = _Tally()
        self.studies: dict[str, None] = {}  # insertion-ordered set
        self.started = time.perf_counter()
        self.emitted = 0  # member events emitted: they take seqs 2, 3, ... with no gap

    @property
    def next_seq(self) -> int:
        """The terminal event's seq: right after the last member event emitted."""
        return 2 + self.emitted

    def envelope(self, seq: int) -> dict[str, Any]:
        return {
            "event_id": new_ingest_event_id(self.request.ingest_id, seq),
            "ingest_id": self.request.ingest_id,
            "tenant": self.request.tenant,
            "seq": seq,
            "attempt": self.context.attempt,
        }

    def run(self) -> IngestTerminal:
        emit = self.context.emit
        emit(
            IngestStarted(
                **self.envelope(1),
                worker=self.context.worker,
                archive_bytes=self.context.source.size,
            )
        )
        try:
            self._members()
            terminal: IngestTerminal = self._completed()
        except IngestAborted as exc:
            terminal = self._failed(exc)
        emit(terminal)
        return terminal

    def _members(self) -> None:
        budget = Budget(self.context.caps)
        counter = Counted(self.context.source.stream())
        pending: deque[Future[IngestEventBase]] = deque()
        with ThreadPoolExecutor(self.context.store_threads, "ingest-store") as pool:
            try:
                for member in members(self.context.source, self.request.file_name, counter):
                    if is_skipped(member.name):
                        self.tally.skipped += 1
                        _drain(member, budget, counter)
                        continue
                    budget.member(member.name)
                    seq = 2 + self.tally.members
                    self.tally.members += 1
                    pending.append(self._handle(member, seq, budget, counter, pool))
                    while len(pending) > self.context.store_threads * 2:
                        self._emit_next(pending)
            finally:
                while pending:  # in order, also when aborting: what is stored is reported
                    self._emit_next(pending)

    def _emit_next(self, pending: deque[Future[IngestEventBase]]) -> None:
        event = pending.popleft().result()
        if isinstance(event, InstanceStored):
            if event.kind is InstanceKind.IMAGE:
                self.tally.images += 1
            else:
                self.tally.non_images += 1
            self.tally.bytes_stored += event.bytes
            if event.study_instance_uid is not None:
                self.studies[event.study_instance_uid] = None
        else:
            self.tally.rejected += 1
        self.context.emit(event)
        self.emitted += 1

    def _handle(
        self, member: Member, seq: int, budget: Budget, counter: Counted, pool: ThreadPoolExecutor
    ) -> Future[IngestEventBase]:
        """Read the member (in this thread: the archive is one stream), then store it in the
        pool. The returned future holds the member's event."""
        unsafe = unsafe_reason(member.name)
        if unsafe is not None:
            _drain(member, budget, counter)
            rejection = Rejection(
                "unsafe-name",
                f"this file was left out: {unsafe}, which no scanner export does",
                repr(member.name),
            )
            return _done(self._rejected(seq, member.name, 0, rejection))
        spooled = _spool(member, budget, counter)
        inspected = inspect(spooled.fp)
        if isinstance(inspected, Rejection):
            spooled.fp.close()
            return _done(self._rejected(seq, member.name, spooled.size, inspected))
        return pool.submit(self._store, seq, spooled, inspected)

    def _store(self, seq: int, spooled: _Spooled, inspected: Inspected) -> IngestEventBase:
        request = self.request
        fields = inspected.fields
        if inspected.study_uid is None:  # a DICOMDIR: kept with its upload
            key = unfiled_key(request.tenant, request.ingest_id, spooled.sha256[:32])
        else:
            key = instance_key(
                request.tenant,
                inspected.study_uid,
                fields["series_instance_uid"],
                fields["sop_instance_uid"],
            )
        with spooled.fp:
            self.context.store.put(
                request.bucket,
                key,
                spooled.fp,
                spooled.size,
                spooled.sha256,
                rerun=self.context.attempt > 1,
            )
        return InstanceStored(
            **self.envelope(seq),
            member=spooled.member.name[:1024],
            key=key,
            bytes=spooled.size,
            sha256=spooled.sha256,
            **fields,
        )

    def _rejected(self, seq: int, name: str, size: int, rejection: Rejection) -> MemberRejected:
        return MemberRejected(
            **self.envelope(seq),
            member=name[:1024],
            bytes=size,
            error_code=rejection.error_code,
            reason=rejection.reason[:1000],
            detail=rejection.detail[:2000],
        )

    def _completed(self) -> IngestTerminal:
        if self.tally.members == 0:
            raise IngestAborted(
                "empty", "the upload holds no files: export the study again and upload it"
            )
        if self.tally.images + self.tally.non_images == 0:
            raise IngestAborted(
                "no-dicom",
                "nothing in the upload is a DICOM object we could keep; every file is listed "
                "with the reason: export the study as DICOM from the scanner or PACS",
            )
        return IngestCompleted(
            **self.envelope(self.next_seq),
            **self.tally.counts(),
            study_instance_uids=tuple(self.studies),
            wall_ms=(time.perf_counter() - self.started) * 1000,
        )

    def _failed(self, exc: IngestAborted) -> IngestFailed:
        log.warning(
            "ingest failed",
            extra={"ingest_id": str(self.request.ingest_id), "error_code": exc.error_code},
        )
        return IngestFailed(
            **self.envelope(terminal_seq(self.next_seq, self.context.floor)),
            error_code=exc.error_code,
            reason=exc.reason[:1000],
            detail=exc.detail[:2000],
        )


def _spool(member: Member, budget: Budget, counter: Counted) -> _Spooled:
    """The member's bytes in a spooled file, hashed and counted against the caps as they come."""
    fp: IO[bytes] = tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY)  # noqa: SIM115  # closed by _store
    digest = hashlib.sha256()
    size = 0
    try:
        for chunk in member.chunks:
            size += len(chunk)
            budget.expanded(member.name, size, len(chunk), counter.read)
            digest.update(chunk)
            fp.write(chunk)
    except BaseException:
        fp.close()
        raise
    fp.seek(0)
    return _Spooled(member, fp, size, digest.hexdigest())


def _drain(member: Member, budget: Budget, counter: Counted) -> None:
    """Skip a member's bytes (a stream must be read through to reach the next member), counted
    against the caps all the same: a bomb named `__MACOSX/x` or `../x` is still a bomb."""
    size = 0
    for chunk in member.chunks:
        size += len(chunk)
        budget.expanded(member.name, size, len(chunk), counter.read)


def _done(event: IngestEventBase) -> Future[IngestEventBase]:
    future: Future[IngestEventBase] = Future()
    future.set_result(event)
    return future
