"""Run one preview job: lay out the series, plan its Z-groups, make every preview slice through
the pool, emit the events of a product job.

The event sequence is a compression's (`job`): ProductRequested is seq 0, JobStarted 1 (its
`total_slices` the number of PREVIEW slices), output slice i at 2+i in index order (SliceEncoded,
or SliceFailed saying why in words), the terminal event right after. Event ids come from
(job_id, seq) whatever the run, so a redelivered request re-emits the same identities. A request
refused before the series is planned (a bad URI or bucket, a series that cannot be binned as
asked) ends with its JobFailed at seq 1. A cancel ends the job with JobCancelled at the next seq.
As a compression's, each run is registered in `{tenant}/jobs/{id}/attempts/` with its ceiling
(2+N) before JobStarted, and a re-run's failure or cancel goes past the earlier runs' ceilings.
"""

from __future__ import annotations

import logging
import time
from contextlib import aclosing
from dataclasses import dataclass, field

from dicompress_compressor.attempts import RunMarkers
from dicompress_compressor.cancellation import CancelRegistry
from dicompress_compressor.encoder import SUPPORTED_CODECS
from dicompress_compressor.lifecycle import Emit, JobAborted, JobLifecycle
from dicompress_compressor.metrics import ResourceMeter
from dicompress_compressor.pool import EncoderPool
from dicompress_compressor.preview.counts import PreviewCounts
from dicompress_compressor.preview.dataset import (
    PreviewSliceSpec,
    preview_series_uid,
    preview_sop_uid,
)
from dicompress_compressor.preview.encode import PreviewSlice, make_preview_slice
from dicompress_compressor.preview.locations import product_source, registered_locations
from dicompress_compressor.preview.plan import Group, PlanRefused, plan_groups
from dicompress_compressor.preview.stream import GroupWork, PreviewMaker, in_order, make_group
from dicompress_compressor.storage import ObjectStore
from dicompress_infra.s3 import S3Uri
from dicompress_schemas import JobCompleted, JobStarted, ProductRequested, TerminalEvent
from dicompress_schemas.products import PreviewParams

log = logging.getLogger(__name__)


class PoolPreviews:
    """`PreviewMaker` on the compressor's process pool: slices are binned and encoded there."""

    def __init__(self, pool: EncoderPool) -> None:
        self.pool = pool

    async def make(self, sources: list[bytes], spec: PreviewSliceSpec) -> PreviewSlice:
        return await self.pool.call(make_preview_slice, sources, spec)


@dataclass(frozen=True)
class PreviewRunner:
    """Runs preview jobs with the adapters it was built with (wired in `service`).

    `allowed_buckets` None lets any bucket through (unit tests); the service always sets it.
    """

    store: ObjectStore
    maker: PreviewMaker
    emit: Emit
    worker: str
    max_in_flight: int
    allowed_buckets: frozenset[str] | None = None
    cancellations: CancelRegistry = field(default_factory=CancelRegistry)

    async def run(self, request: ProductRequested) -> TerminalEvent:
        """Make the preview; return its terminal event, already emitted. Only a failure to
        emit (the broker is gone) propagates: the caller must then not commit the request."""
        job = JobLifecycle(request.job_id, request.tenant, self.emit, self.cancellations)
        preview = _PreviewJob(self, request, job)
        return await job.run(preview.run, preview.prepare)


class _PreviewJob:
    def __init__(self, runner: PreviewRunner, request: ProductRequested, job: JobLifecycle) -> None:
        self.runner = runner
        self.request = request
        self.job = job
        self.started = time.perf_counter()
        # set by `prepare`, before `run`
        self.params: PreviewParams
        self.locations: tuple[S3Uri, S3Uri]
        self.markers: RunMarkers

    async def prepare(self) -> None:
        """The request checked, and this run registered (its floor: see `lifecycle`)."""
        self.params = self._params()
        runner = self.runner
        self.locations, self.markers = await registered_locations(
            self.job, self.request, runner.store, runner.allowed_buckets, runner.worker
        )

    async def run(self) -> JobCompleted:
        params = self.params
        found = await product_source(
            self.runner.store, self.request, self.locations, self.job.log_extra
        )
        target, series, slices = found.target, found.series, found.slices
        try:
            plan = plan_groups(series, slices, params.bin_z)
        except PlanRefused as exc:
            raise JobAborted(exc.error_code, exc.reason) from exc
        groups = plan.groups
        await self.markers.record_ceiling(self.job.attempt, len(groups))
        await self.job.emit(
            JobStarted(
                **self.job.envelope(1),
                total_slices=len(groups),
                total_bytes=sum(m.header.source.size for g in groups for m in g.members),
                worker=self.runner.worker,
            )
        )
        extra = {**self.job.log_extra, "slices": len(groups), "left_out": plan.left_out}
        log.info("preview started", extra=extra)
        new_series = preview_series_uid(str(self.request.job_id), series.uid)
        spacing = None if series.spacing is None else series.spacing.mean

        def spec(group: Group) -> PreviewSliceSpec:
            return PreviewSliceSpec(
                index=group.index,
                bin_xy=params.bin_xy,
                bin_z=params.bin_z,
                codec=params.codec,
                rate=params.rate,
                series_uid=new_series,
                sop_uid=preview_sop_uid(str(self.request.job_id), group.index),
                spacing_mm=spacing,
            )

        work = GroupWork(self.runner.store, self.runner.maker, target, spec)
        counts = PreviewCounts(self.job, len(groups), new_series)
        async with ResourceMeter() as meter:
            outcomes = in_order(groups, lambda g: make_group(g, work), self.runner.max_in_flight)
            async with aclosing(outcomes):
                async for outcome in outcomes:
                    await counts.record(outcome)
            cpu_s, peak_rss = meter.measure()
        if counts.encoded == 0:
            first = " | ".join(counts.reasons[:3])
            raise JobAborted("no-slice-encoded", f"no preview slice could be made: {first}")
        return JobCompleted(
            **self.job.envelope(2 + len(groups)),
            **counts.totals(),
            artifact_uri=self.request.target_uri,
            wall_ms=(time.perf_counter() - self.started) * 1000.0,
            cpu_s=cpu_s,
            peak_rss_bytes=peak_rss,
        )

    def _params(self) -> PreviewParams:
        params = self.request.params
        if not isinstance(params, PreviewParams):
            raise JobAborted(
                "invalid-params",
                f"a {params.kind} product is made by the renderer, not the compressor",
            )
        if params.codec not in SUPPORTED_CODECS:
            raise JobAborted(
                "unsupported-codec",
                f"codec {params.codec.value} is not supported by this compressor yet",
            )
        return params
