"""Run one compression job: list the slices, encode them, upload the ZIP, emit what happened.

Every effect goes through an adapter passed in (object store, encoder, event sink), so this
module is the job's whole logic. Events follow the per-job sequence: JobStarted 1, slice i at
2+i in index order, and the terminal event right after the last event emitted (2+N for a
completed job), so a job's history never has a gap. Ids come from (job_id, seq), so a re-run
after a crash re-emits the same identities and consumers drop the duplicates.

Once the source is listed, JobStarted is always emitted (even for 0 slices, or when the target
is taken) so that consumers see who took the job; a job that fails before listing (a malformed
URI) ends with its JobFailed at seq 1.
"""

from __future__ import annotations

import logging
import tempfile
import time
import zipfile
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from dicompress_compressor.encoder import ANONYMIZE_SUPPORTED, SUPPORTED_CODECS, EncodeOptions
from dicompress_compressor.errors import CompressorError
from dicompress_compressor.ordering import entry_name, natural_key
from dicompress_compressor.pipeline import SliceEncoder, SliceOutcome, in_index_order
from dicompress_compressor.storage import ObjectStore, SourceObject
from dicompress_infra.s3 import S3Uri, S3UriError
from dicompress_schemas import (
    CompressionRequested,
    EventBase,
    JobCompleted,
    JobFailed,
    JobStarted,
    SliceEncoded,
    SliceFailed,
    TerminalEvent,
    new_event_id,
)

log = logging.getLogger(__name__)

Emit = Callable[[EventBase], Awaitable[None]]
SPOOL_MAX_BYTES = 64 * 1024 * 1024  # the ZIP stays in memory up to this, then goes to disk
_REASON_MAX = 1000


class JobAborted(CompressorError):
    """The job cannot go on; `error_code` and `reason` become its JobFailed."""

    def __init__(self, error_code: str, reason: str) -> None:
        super().__init__(reason)
        self.error_code = error_code
        self.reason = reason


@dataclass(frozen=True)
class JobRunner:
    """Runs jobs with the adapters it was built with (the composition root is `service`)."""

    store: ObjectStore
    encoder: SliceEncoder
    emit: Emit
    worker: str
    max_in_flight: int

    async def run(self, request: CompressionRequested) -> TerminalEvent:
        """Do the job; return its terminal event, already emitted (acknowledged by the broker).

        Every failure becomes a JobFailed, except a failure to emit (the broker is gone), which
        propagates: the caller must then not commit the request.
        """
        return await _Job(self, request).run()


@dataclass
class _Totals:
    encoded: int = 0
    failed: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    pixel_bytes: int = 0
    codestream_bytes: int = 0
    download_ms: float = 0.0
    encode_ms: float = 0.0
    reasons: list[str] = field(default_factory=list)


class _Job:
    """One run of one job."""

    def __init__(self, runner: JobRunner, request: CompressionRequested) -> None:
        self.runner = runner
        self.request = request
        self.total = 0  # N, once the source is listed
        self.next_seq = 1  # the terminal event takes this seq: no gap before it
        self.started = time.perf_counter()
        self.log_extra: dict[str, Any] = {"job_id": str(request.job_id), "tenant": request.tenant}

    def envelope(self, seq: int) -> dict[str, Any]:
        job_id = self.request.job_id
        return {
            "event_id": new_event_id(job_id, seq),
            "job_id": job_id,
            "seq": seq,
            "tenant": self.request.tenant,
        }

    async def emit(self, event: EventBase) -> None:
        await self.runner.emit(event)
        self.next_seq = event.seq + 1
        extra = {**self.log_extra, "event_type": event.__class__.__name__, "seq": event.seq}
        log.debug("event emitted", extra=extra)

    async def run(self) -> TerminalEvent:
        terminal: TerminalEvent
        try:
            terminal = await self._run()
        except JobAborted as exc:
            terminal = self._failed(exc.error_code, exc.reason)
        except Exception as exc:  # anything unexpected still closes the job, with its cause
            log.exception("job failed unexpectedly", extra=self.log_extra)
            reason = f"internal error: {type(exc).__name__}: {exc}; request the job again"
            terminal = self._failed("internal", reason)
        await self.emit(terminal)
        extra = {**self.log_extra, "event_type": terminal.type, "seq": terminal.seq}
        log.info("job finished", extra={**extra, "wall_ms": _ms_since(self.started)})
        return terminal

    def _failed(self, error_code: str, reason: str) -> JobFailed:
        return JobFailed(
            **self.envelope(self.next_seq), error_code=error_code, reason=reason[:_REASON_MAX]
        )

    async def _run(self) -> JobCompleted:
        options = self._options()
        source, artifact = self._locations()
        sources = await self.runner.store.list_objects(source)
        sources.sort(key=lambda o: natural_key(o.key))
        self.total = len(sources)
        await self.emit(
            JobStarted(
                **self.envelope(1),
                total_slices=self.total,
                total_bytes=sum(o.size for o in sources),
                worker=self.runner.worker,
            )
        )
        log.info("job started", extra={**self.log_extra, "slices": self.total})
        if not sources:
            raise JobAborted(
                "source-empty",
                f"no objects under {source}: upload the series' DICOM files (one per slice) "
                "there, then request the compression again",
            )
        await self._check_target(artifact)
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_BYTES) as spool:
            # ZIP_STORED: a JPEG 2000 codestream does not deflate
            with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
                totals = await self._encode_all(sources, archive, options)
            if totals.encoded == 0:
                first = " | ".join(totals.reasons[:3])
                raise JobAborted("no-slice-encoded", f"no slice could be encoded: {first}")
            artifact_bytes = spool.tell()
            spool.seek(0)
            upload_started = time.perf_counter()
            metadata = {"job-id": str(self.request.job_id), "tenant": self.request.tenant}
            await self.runner.store.upload(artifact, spool, metadata)
        return JobCompleted(
            **self.envelope(2 + self.total),
            slices_encoded=totals.encoded,
            slices_failed=totals.failed,
            bytes_in=totals.bytes_in,
            bytes_out=totals.bytes_out,
            ratio=totals.pixel_bytes / totals.codestream_bytes,
            artifact_uri=str(artifact),
            artifact_bytes=artifact_bytes,
            download_ms=totals.download_ms,
            encode_ms=totals.encode_ms,
            upload_ms=_ms_since(upload_started),
            wall_ms=_ms_since(self.started),
        )

    def _locations(self) -> tuple[S3Uri, S3Uri]:
        """The source prefix and the artifact's URI, validated (no '..' escapes)."""
        request = self.request
        try:
            name = request.output_filename or f"{request.job_id}.zip"
            artifact = S3Uri.parse(str(S3Uri.parse(request.target_uri).child(name)))
            return S3Uri.parse(request.source_uri), artifact
        except S3UriError as exc:
            raise JobAborted("invalid-uri", f"{exc}; fix the request and send it again") from exc

    async def _check_target(self, artifact: S3Uri) -> None:
        """Refuse to overwrite another job's artifact unless asked; a re-run of this job may."""
        metadata = await self.runner.store.head_metadata(artifact)
        if metadata is None or self.request.overwrite_existing:
            return
        owner = metadata.get("job-id")
        if owner != str(self.request.job_id):
            raise JobAborted(
                "target-exists",
                f"{artifact} already exists (written by job {owner or 'unknown'}): set "
                "overwrite_existing or choose another output_filename",
            )

    def _options(self) -> EncodeOptions:
        """The encoder's options, refusing up front what the encoder cannot honour."""
        request = self.request
        if request.codec not in SUPPORTED_CODECS:
            raise JobAborted(
                "unsupported-codec",
                f"codec {request.codec.value} is not supported by this compressor yet; "
                f"ask for one of {sorted(c.value for c in SUPPORTED_CODECS)}",
            )
        if request.anonymize and not ANONYMIZE_SUPPORTED:
            # Never ship identifiable data to someone who asked for it de-identified.
            raise JobAborted(
                "unsupported-option",
                "anonymize is not supported by this compressor yet; nothing was written",
            )
        return EncodeOptions(
            codec=request.codec,
            rate=request.compression_rate,
            min_psnr=request.min_psnr,
            anonymize_seed=str(request.job_id) if request.anonymize else None,
        )

    async def _encode_all(
        self, sources: list[SourceObject], archive: zipfile.ZipFile, options: EncodeOptions
    ) -> _Totals:
        totals = _Totals()
        outcomes = in_index_order(
            sources,
            self.runner.store,
            self.runner.encoder,
            options,
            self.runner.max_in_flight,
        )
        async with aclosing(outcomes):
            async for outcome in outcomes:
                await self._record(outcome, archive, totals)
        return totals

    async def _record(self, outcome: SliceOutcome, archive: zipfile.ZipFile, t: _Totals) -> None:
        """Put an encoded slice in the ZIP, count it and emit its event (seq 2+i)."""
        seq, encoded = 2 + outcome.index, outcome.encoded
        common: dict[str, Any] = {
            "slice_index": outcome.index,
            "total_slices": self.total,
            "source_key": outcome.source.key,
        }
        t.download_ms += outcome.download_ms
        if encoded is None:
            t.failed += 1
            t.reasons.append(f"{outcome.source.key}: {outcome.reason}")
            log.warning(
                "slice failed", extra={**self.log_extra, **common, "reason": outcome.reason}
            )
            reason = outcome.reason[:_REASON_MAX]
            await self.emit(
                SliceFailed(
                    **self.envelope(seq), **common, reason=reason, error_code=outcome.error_code
                )
            )
            return
        entry = entry_name(outcome.index)
        archive.writestr(entry, encoded.data)  # ~10 KB, or a disk write once spooled: brief
        t.encoded += 1
        t.bytes_in += outcome.bytes_in
        t.bytes_out += len(encoded.data)
        t.pixel_bytes += encoded.pixel_bytes
        t.codestream_bytes += encoded.codestream_bytes
        t.encode_ms += encoded.encode_ms
        await self.emit(
            SliceEncoded(
                **self.envelope(seq),
                **common,
                entry_name=entry,
                bytes_in=outcome.bytes_in,
                bytes_out=len(encoded.data),
                ratio=encoded.ratio,
                encode_ms=encoded.encode_ms,
                sop_instance_uid=encoded.sop_instance_uid or None,
                source_sop_instance_uid=encoded.source_sop_instance_uid,
                psnr=encoded.psnr,
                max_abs_error=encoded.max_abs_error,
            )
        )


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
