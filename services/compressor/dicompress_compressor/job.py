"""Run one compression job: list the slices, encode and store them, stream the ZIP, emit events.

Every effect goes through an adapter passed in (object store, encoder, event sink), so this
module is the job's whole logic. Events follow the per-job sequence: JobStarted 1, slice i at
2+i in index order, and the terminal event right after the last event emitted (2+N for a
completed job), so a job's history never has a gap. Ids come from (job_id, seq) whichever run
emits them, so a re-run after a crash re-emits the same identities and consumers drop the
duplicates; the envelope's `attempt` says which run it was.

Before JobStarted the job reads every source's header (`headers`) and lays the slices out in
anatomical order (`layout`): only image slices are counted and indexed; DICOM objects without
pixel data are copied into the ZIP as they are (`non_image`). Once that is done, JobStarted is
always emitted (even for 0 slices) so that consumers see who took the job; a job that fails
before (a malformed URI, a bucket not allowed, a header S3 would not serve) ends with its
JobFailed at seq 1. A cancelled job ends with JobCancelled at the next seq.

Each run registers itself in `{tenant}/jobs/{id}/attempts/` before reading its source and
records there its ceiling (the last seq it may use, 2+N) before JobStarted. A re-run's JobFailed
or JobCancelled goes past every ceiling the earlier runs recorded (the contract's `attempts`
rule), so a re-run that fails earlier than a crashed run had got is not dropped as a duplicate
of that run's event; its JobCompleted keeps seq 2+N.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from dicompress_compressor.anonymize import anonymized_series_uid
from dicompress_compressor.artifact import MAX_COLLISIONS, ArtifactWriter, place_artifact
from dicompress_compressor.attempts import RunMarkers
from dicompress_compressor.cancellation import CancelRegistry
from dicompress_compressor.encoder import EncodeOptions
from dicompress_compressor.lanes import LANE
from dicompress_compressor.layout import Layout
from dicompress_compressor.lifecycle import Emit, JobAborted, JobLifecycle
from dicompress_compressor.manifest import MANIFEST_NAME
from dicompress_compressor.metrics import ResourceMeter
from dicompress_compressor.non_image import copy_others
from dicompress_compressor.options import encode_options
from dicompress_compressor.pipeline import SliceEncoder, SliceWork
from dicompress_compressor.slices import job_prefix, stored_slices
from dicompress_compressor.source import SourceUnreadable, lay_out_source
from dicompress_compressor.split import Splitter
from dicompress_compressor.storage import ObjectStore
from dicompress_compressor.tally import Tally
from dicompress_compressor.zipstream import MIN_PART_SIZE
from dicompress_infra.ahead import Ahead
from dicompress_infra.s3 import LocationRefused, S3Uri, S3UriError, request_locations
from dicompress_schemas import (
    CompressionRequested,
    EventBase,
    JobCompleted,
    JobStarted,
    TerminalEvent,
)
from dicompress_schemas.naming import default_name

log = logging.getLogger(__name__)

SPREAD_IN_FLIGHT = 16  # slices of a spread job fetched at once (no encoding here)


@dataclass(frozen=True)
class JobRunner:
    """Runs jobs with the adapters it was built with (the composition root is `service`).

    `allowed_buckets` None lets any bucket through (unit tests); the service always sets it.
    """

    store: ObjectStore
    encoder: SliceEncoder
    emit: Emit
    worker: str
    max_in_flight: int
    allowed_buckets: frozenset[str] | None = None
    part_size: int = MIN_PART_SIZE
    cancellations: CancelRegistry = field(default_factory=CancelRegistry)
    splitter: Splitter | None = None  # spreads a large job's slices over the group (`split`)
    # The next job's source, laid out while this one encodes (`anticipate`): its header pass
    # (0.35-0.55 s for 399 slices in a 4-study burst) had the encoder processes idle between
    # two jobs. The layout is what the job's own pass would find a few seconds later (the
    # same request, read after it was made either way); it reads only the source.
    layouts: Ahead[uuid.UUID, Layout] = field(default_factory=Ahead)

    async def run(self, request: CompressionRequested) -> TerminalEvent:
        """Do the job; return its terminal event, already emitted (acknowledged by the broker).

        Every failure becomes a JobFailed and a cancel a JobCancelled, except a failure to emit
        (the broker is gone), which propagates: the caller must then not commit the request.
        """
        return await _Job(self, request).run()

    def anticipate(self, request: CompressionRequested) -> None:
        """Lay out the source of the job likely to run next (`layouts`), if it may be read."""
        try:
            source, target = request_locations(
                request.source_uri, request.target_uri, self.allowed_buckets, ""
            )
        except LocationRefused:
            return  # the job itself fails with the reason
        own = job_prefix(target.bucket, request.tenant, request.job_id)
        extra = {"job_id": str(request.job_id), "tenant": request.tenant, "ahead": True}
        self.layouts.start(
            request.job_id,
            lambda: lay_out_source(self.store, source, own, extra, anonymize=request.anonymize),
        )


class _Job:
    """One run of one job: its work, on the lifecycle every compressor job shares."""

    def __init__(self, runner: JobRunner, request: CompressionRequested) -> None:
        self.runner = runner
        self.request = request
        self.life = JobLifecycle(request.job_id, request.tenant, runner.emit, runner.cancellations)
        self.log_extra = self.life.log_extra
        # set by `_prepare`, before `_run`
        self.options: EncodeOptions
        self.source: S3Uri
        self.target: S3Uri
        self.markers: RunMarkers

    @property
    def attempt(self) -> int:
        """Which run this is: 1 until the attempt is registered in the target bucket."""
        return self.life.attempt

    def envelope(self, seq: int) -> dict[str, Any]:
        return self.life.envelope(seq)

    async def emit(self, event: EventBase) -> None:
        await self.life.emit(event)

    async def run(self) -> TerminalEvent:
        return await self.life.run(self._run, self._prepare)

    async def _prepare(self) -> None:
        """The request checked, and this run registered in the target bucket (its number, and
        the floor of its failure: what the earlier runs may have written)."""
        self.options = encode_options(self.request)
        self.source, self.target = self._locations()
        runner = self.runner
        self.markers = await self.life.register(runner.store, self.target.bucket, runner.worker)

    async def _run(self) -> JobCompleted:
        options, source, target = self.options, self.source, self.target
        own = job_prefix(target.bucket, self.request.tenant, self.request.job_id)
        store = self.runner.store
        try:
            layout = await self.runner.layouts.take(self.request.job_id)
            if layout is None:  # not laid out ahead (`layouts`), or that failed
                layout = await lay_out_source(
                    store, source, own, self.log_extra, anonymize=self.request.anonymize
                )
        except SourceUnreadable as exc:
            raise JobAborted("source-unreadable", str(exc)) from exc
        sources = [planned.header.source for planned in layout.slices]
        stored = await stored_slices(store, own)
        await self.markers.record_ceiling(self.attempt, len(sources))
        await self.emit(
            JobStarted(
                **self.envelope(1),
                total_slices=len(sources),
                total_bytes=sum(o.size for o in sources),
                worker=self.runner.worker,
            )
        )
        extra = {**self.log_extra, "slices": len(sources), "attempt": self.attempt}
        extra |= {"series": len(layout.series), "non_image": len(layout.others)}
        log.info("job started", extra={**extra, "reused": len(stored)})
        if not sources:
            others = len(layout.others)
            found = f" (only {others} objects without pixel data)" if others else ""
            raise JobAborted(
                "source-empty",
                f"no image slices under {source}{found}: upload the series' DICOM files there, "
                "then request the compression again",
            )
        artifact = await self._artifact_uri(target, source)
        metadata = {"job-id": str(self.request.job_id), "tenant": self.request.tenant}
        writer = ArtifactWriter(store, artifact, metadata, self.runner.part_size)
        remote, in_flight = None, self.runner.max_in_flight
        splitter = self.runner.splitter
        lane = LANE.get()
        if splitter is not None and splitter.applies(len(sources), lane):
            remote = await splitter.spread(
                self.request, self.attempt, lane, sources, stored, store, own
            )
            # the slices are made elsewhere: here only fetched, so more of them at once
            in_flight = max(in_flight, SPREAD_IN_FLIGHT)
            log.info("job spread over the group", extra={**extra, "lane": lane.value})
        work = SliceWork(store, self.runner.encoder, options, own, stored, remote)
        async with ResourceMeter() as meter:
            await writer.open()
            try:
                tally = Tally(self, writer, layout, self._series_uid)
                await tally.run(work, in_flight)
                if tally.encoded == 0:
                    first = " | ".join(tally.reasons[:3])
                    raise JobAborted("no-slice-encoded", f"no slice could be encoded: {first}")
                tally.others = await copy_others(
                    store,
                    writer,
                    layout.others,
                    include=self.request.include_non_image,
                    anonymize=self.request.anonymize,
                    log_extra=self.log_extra,
                )
                await writer.add(MANIFEST_NAME, tally.manifest())
                artifact_bytes = await writer.finish()
            except BaseException:
                await writer.abort()
                raise
            cpu_s, peak_rss = meter.measure()
        return JobCompleted(
            **self.envelope(2 + len(sources)),
            **tally.totals(),
            artifact_uri=str(artifact),
            artifact_bytes=artifact_bytes,
            upload_ms=tally.upload_ms + writer.upload_ms,
            wall_ms=_ms_since(self.life.started),
            cpu_s=cpu_s,
            peak_rss_bytes=peak_rss,
        )

    def _series_uid(self, uid: str) -> str:
        """The Series Instance UID events and the manifest give: the de-identified one when
        the job anonymizes (the same one the encoded files carry)."""
        if not self.request.anonymize or not uid:
            return uid
        return anonymized_series_uid(str(self.request.job_id), uid)

    def _locations(self) -> tuple[S3Uri, S3Uri]:
        """The source and target prefixes, validated (no '..' escapes, allowed buckets)."""
        request, allowed = self.request, self.runner.allowed_buckets
        try:
            return request_locations(
                request.source_uri,
                request.target_uri,
                allowed,
                "COMPRESSOR_ALLOWED_BUCKETS and API_ALLOWED_BUCKETS",
            )
        except LocationRefused as exc:
            raise JobAborted(exc.error_code, exc.reason) from exc

    async def _artifact_uri(self, target: S3Uri, source: S3Uri) -> S3Uri:
        """The ZIP's URI under the naming and overwrite rules (see `artifact.place_artifact`)."""
        request = self.request
        name = request.output_filename or default_name(request, source.key)
        try:
            uri = await place_artifact(
                self.runner.store, target, name, str(request.job_id), request.overwrite_existing
            )
        except S3UriError as exc:
            raise JobAborted("invalid-uri", f"{exc}; choose another output_filename") from exc
        if uri is None:
            raise JobAborted(
                "target-exists",
                f"{name} and its next {MAX_COLLISIONS - 1} numbered variants all exist under "
                f"{target}: set overwrite_existing or choose another output_filename",
            )
        return uri


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
