"""Run one Mini CT job: lay out the series, take the asked slices and box, make every slice
through the pool (`preview.stream`, as a preview's), and store the one downloadable object.

Events as every product job's: JobStarted at seq 1 (`total_slices` the number of output slices
or frames), one SliceEncoded per slice at seq 2+i as it is encoded, JobCompleted right after the
ZIP (format `series`) or the multi-frame object (format `multiframe`) is stored, its
`artifact_uri` that object (`output.mini_ct_key`). A request that does not fit its series (a
slice range or a box outside it) ends with a JobFailed at seq 1 naming the valid range (past
the earlier runs' ceilings for a re-run, by the attempts rule, as every compressor job's).

Unlike a preview, a slice that cannot be made fails the job (its SliceFailed, then JobFailed):
a region with a missing slice is not the volume that was asked for, and a plan made on it
would be wrong. A re-run makes everything again and overwrites the same key (the DICOM objects
are the same bytes: deterministic codecs, UIDs from the job id; a ZIP's entry times differ).
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Protocol

from pydicom import dcmread

from dicompress_compressor.artifact import ArtifactWriter
from dicompress_compressor.attempts import RunMarkers
from dicompress_compressor.cancellation import CancelRegistry
from dicompress_compressor.encoder import SUPPORTED_CODECS
from dicompress_compressor.lifecycle import Emit, JobAborted, JobLifecycle
from dicompress_compressor.manifest import MANIFEST_NAME, ManifestEntry
from dicompress_compressor.metrics import ResourceMeter
from dicompress_compressor.minict import output
from dicompress_compressor.minict.multiframe import (
    CONVERTERS,
    MultiframeObject,
    MultiframeSpec,
    build_multiframe,
)
from dicompress_compressor.minict.region import region_crop
from dicompress_compressor.minict.specs import (
    mini_ct_object_uid,
    mini_ct_series_uid,
    slice_spec,
)
from dicompress_compressor.preview.counts import PreviewCounts
from dicompress_compressor.preview.dataset import PreviewSliceSpec
from dicompress_compressor.preview.encode import PreviewSlice
from dicompress_compressor.preview.locations import product_source, registered_locations
from dicompress_compressor.preview.plan import Group, PlanRefused, plan_groups
from dicompress_compressor.preview.runner import PoolPreviews
from dicompress_compressor.preview.stream import GroupOutcome, GroupWork, in_order, make_group
from dicompress_compressor.storage import ObjectStore
from dicompress_compressor.zipstream import MIN_PART_SIZE
from dicompress_infra.s3 import S3Uri
from dicompress_schemas import JobCompleted, JobStarted, ProductRequested, TerminalEvent
from dicompress_schemas.products import MiniCtFormat, MiniCtParams

log = logging.getLogger(__name__)


class MiniCtMaker(Protocol):
    async def make(self, sources: list[bytes], spec: PreviewSliceSpec) -> PreviewSlice: ...

    async def join(self, frames: list[bytes], spec: MultiframeSpec) -> MultiframeObject: ...


class PoolMiniCts(PoolPreviews):
    """`MiniCtMaker` on the compressor's process pool: slices are made there as the preview's
    are, and the multi-frame join runs there too, off the event loop."""

    async def join(self, frames: list[bytes], spec: MultiframeSpec) -> MultiframeObject:
        return await self.pool.call(build_multiframe, frames, spec)


@dataclass(frozen=True)
class MiniCtRunner:
    """Runs Mini CT jobs with the adapters it was built with (wired in `service`).

    `allowed_buckets` None lets any bucket through (unit tests); the service always sets it.
    """

    store: ObjectStore
    maker: MiniCtMaker
    emit: Emit
    worker: str
    max_in_flight: int
    allowed_buckets: frozenset[str] | None = None
    cancellations: CancelRegistry = field(default_factory=CancelRegistry)
    part_size: int = MIN_PART_SIZE

    async def run(self, request: ProductRequested) -> TerminalEvent:
        """Make the Mini CT; return its terminal event, already emitted. Only a failure to
        emit (the broker is gone) propagates: the caller must then not commit the request."""
        job = JobLifecycle(request.job_id, request.tenant, self.emit, self.cancellations)
        mini_ct = _MiniCtJob(self, request, job)
        return await job.run(mini_ct.run, mini_ct.prepare)


class _MiniCtJob:
    def __init__(self, runner: MiniCtRunner, request: ProductRequested, job: JobLifecycle) -> None:
        self.runner = runner
        self.request = request
        self.job = job
        self.started = time.perf_counter()
        self.job_id = str(request.job_id)
        # set by `prepare`, before `run`
        self.params: MiniCtParams
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
            groups = plan_groups(series, slices, 1, (params.z_start, params.z_end)).groups
            crop = region_crop(params, *await self._slice_size(groups[0]))
        except PlanRefused as exc:
            raise JobAborted(exc.error_code, exc.reason) from exc
        if params.format is MiniCtFormat.MULTIFRAME:
            self._check_convertible(groups)
        await self.markers.record_ceiling(self.job.attempt, len(groups))
        await self.job.emit(
            JobStarted(
                **self.job.envelope(1),
                total_slices=len(groups),
                total_bytes=sum(g.first.header.source.size for g in groups),
                worker=self.runner.worker,
            )
        )
        log.info("mini ct started", extra={**self.job.log_extra, "slices": len(groups)})
        new_series = mini_ct_series_uid(self.job_id, series.uid)
        spacing = None if series.spacing is None else series.spacing.mean

        def spec(group: Group) -> PreviewSliceSpec:
            return slice_spec(
                params, crop, group, job_id=self.job_id, series_uid=new_series, spacing_mm=spacing
            )

        work = GroupWork(self.runner.store, self.runner.maker, target, spec, store_slices=False)
        uri = S3Uri(target.bucket, output.mini_ct_key(target.prefix, params.format))
        async with ResourceMeter() as meter:
            if params.format is MiniCtFormat.SERIES:
                counts = PreviewCounts(self.job, len(groups), new_series)
                size = await self._zip(groups, work, counts, uri, params, new_series)
            else:
                object_uid = mini_ct_object_uid(self.job_id)
                counts = PreviewCounts(self.job, len(groups), new_series, object_uid)
                multiframe = MultiframeSpec(new_series, object_uid, series.uid)
                size = await self._multiframe(groups, work, counts, uri, multiframe)
            cpu_s, peak_rss = meter.measure()
        return JobCompleted(
            **self.job.envelope(2 + len(groups)),
            **(counts.totals() | {"artifact_bytes": size}),
            artifact_uri=str(uri),
            wall_ms=(time.perf_counter() - self.started) * 1000.0,
            cpu_s=cpu_s,
            peak_rss_bytes=peak_rss,
        )

    async def _zip(
        self,
        groups: list[Group],
        work: GroupWork,
        counts: PreviewCounts,
        uri: S3Uri,
        params: MiniCtParams,
        series_uid: str,
    ) -> int:
        """Every slice into the ZIP as it comes (streamed up in parts), then the manifest."""
        writer = ArtifactWriter(
            self.runner.store, uri, {"job-id": self.job_id}, self.runner.part_size
        )
        await writer.open()
        entries: list[ManifestEntry] = []
        try:
            async for outcome in self._outcomes(groups, work, counts):
                assert outcome.made is not None  # _outcomes stops at a failure
                await writer.add(outcome.entry_name, outcome.made.encoded.data)
                entries.append(output.manifest_entry(outcome, series_uid))
                await counts.record(outcome)
            await writer.add(
                MANIFEST_NAME, output.render(self.request, params, series_uid, entries)
            )
            size = await writer.finish()
        except BaseException:  # a failure, a cancel: nothing half-made is left visible
            await writer.abort()
            raise
        counts.upload_ms += writer.upload_ms
        return size

    async def _multiframe(
        self,
        groups: list[Group],
        work: GroupWork,
        counts: PreviewCounts,
        uri: S3Uri,
        spec: MultiframeSpec,
    ) -> int:
        """Every frame encoded (and told) as it comes, then joined and stored as one object."""
        frames: list[bytes] = []
        async for outcome in self._outcomes(groups, work, counts):
            assert outcome.made is not None
            frames.append(outcome.made.encoded.data)
            await counts.record(outcome)
        try:
            made = await self.runner.maker.join(frames, spec)
        except Exception as exc:  # highdicom refused the frames: say so, in its words
            raise JobAborted(
                "multiframe-failed",
                f"the frames could not be joined into one multi-frame object "
                f"({type(exc).__name__}: {exc}); ask for the series format",
            ) from exc
        counts.encode_ms += made.build_ms
        started = time.perf_counter()
        metadata = {"job-id": self.job_id, "sop-instance-uid": spec.sop_uid}
        await self.runner.store.put_bytes(uri, made.data, metadata)
        counts.upload_ms += (time.perf_counter() - started) * 1000.0
        return len(made.data)

    async def _outcomes(
        self, groups: list[Group], work: GroupWork, counts: PreviewCounts
    ) -> AsyncIterator[GroupOutcome]:
        """The encoded slices in index order; at the first that could not be made, its
        SliceFailed and then a JobAborted (what is still in flight is cancelled)."""
        outcomes = in_order(groups, lambda g: make_group(g, work), self.runner.max_in_flight)
        async with aclosing(outcomes):
            async for outcome in outcomes:
                if outcome.made is None:
                    await counts.record(outcome)
                    raise JobAborted(
                        outcome.error_code or "slice-failed",
                        f"slice {outcome.group.index} of the region "
                        f"({outcome.group.first.header.source.key}) could not be made: "
                        f"{outcome.reason}; the Mini CT would have a gap, so none was stored",
                    )
                yield outcome

    async def _slice_size(self, group: Group) -> tuple[int, int]:
        """Rows and Columns of the region's first slice: the box is checked against them."""
        source = group.first.header.source
        try:
            data = await self.runner.store.get_bytes(source)
            header = dcmread(io.BytesIO(data), stop_before_pixels=True)
            return int(header.Rows), int(header.Columns)
        except Exception as exc:  # unreadable or no image: nothing can be cropped from it
            raise JobAborted(
                "source-unreadable",
                f"could not read the size of {source.key} ({type(exc).__name__}: {exc}): "
                "upload the series again, then request the Mini CT again",
            ) from exc

    def _check_convertible(self, groups: list[Group]) -> None:
        other = {g.first.header.sop_class_uid for g in groups} - set(CONVERTERS)
        if other:
            raise JobAborted(
                "unsupported",
                f"a multi-frame Mini CT can be made of CT, MR or PET images only, and this "
                f"series holds SOP class {sorted(other)[0]}: ask for the series format",
            )

    def _params(self) -> MiniCtParams:
        params = self.request.params
        if not isinstance(params, MiniCtParams):
            raise JobAborted(
                "invalid-params", f"a {params.kind} product is not a Mini CT: wrong runner"
            )
        if params.codec not in SUPPORTED_CODECS:
            raise JobAborted(
                "unsupported-codec",
                f"codec {params.codec.value} is not supported by this compressor yet",
            )
        return params
