"""The slices of a running job as they come out of the pipeline: into the ZIP (at the entry
`layout` gave them), into the manifest, counted, and told as SliceEncoded / SliceFailed events
(seq 2+i)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import asdict
from typing import Any, Protocol

from dicompress_compressor.artifact import ArtifactWriter
from dicompress_compressor.layout import Layout, PlannedSlice, Series
from dicompress_compressor.manifest import ManifestEntry, OtherEntry, render_manifest
from dicompress_compressor.pipeline import SliceOutcome, SliceWork, in_index_order
from dicompress_compressor.slice_counts import SliceCounts
from dicompress_schemas import CompressionRequested, EventBase, SliceEncoded, SliceFailed

log = logging.getLogger(__name__)

_REASON_MAX = 1000


class JobContext(Protocol):
    """What the tally needs of its job: the request, the envelope, the event sink."""

    request: CompressionRequested
    log_extra: dict[str, Any]

    @property
    def attempt(self) -> int: ...

    def envelope(self, seq: int) -> dict[str, Any]: ...

    async def emit(self, event: EventBase) -> None: ...


class Tally(SliceCounts):
    """Records every outcome; `totals()` gives JobCompleted's counters. `series_uid` maps a
    source's Series Instance UID to the one reported (the de-identified one when anonymizing)."""

    def __init__(
        self,
        job: JobContext,
        writer: ArtifactWriter,
        layout: Layout,
        series_uid: Callable[[str], str] = str,
    ) -> None:
        super().__init__()
        self.job = job
        self.writer = writer
        self.layout = layout
        self.series_uid = series_uid
        self.total = len(layout.slices)
        self.entries: list[ManifestEntry] = []
        self.others: list[OtherEntry] = []
        self.reused = 0

    async def run(self, work: SliceWork, max_in_flight: int) -> None:
        sources = [planned.header.source for planned in self.layout.slices]
        outcomes = in_index_order(sources, work, max_in_flight)
        async with aclosing(outcomes):
            async for outcome in outcomes:
                await self.record(outcome)

    async def record(self, outcome: SliceOutcome) -> None:
        """Put an encoded slice in the ZIP, count it and emit its event."""
        seq, encoded = 2 + outcome.index, outcome.encoded
        planned = self.layout.slices[outcome.index]
        where = self._where(planned)
        common: dict[str, Any] = {
            "slice_index": outcome.index,
            "total_slices": self.total,
            "source_key": outcome.source.key,
        }
        self.download_ms += outcome.download_ms
        self.upload_ms += outcome.upload_ms
        if encoded is None:
            self.count_failed(outcome.source.key, outcome.reason)
            extra = {**self.job.log_extra, **common, "reason": outcome.reason}
            log.warning("slice failed", extra=extra)
            self.entries.append(
                ManifestEntry(
                    outcome.index,
                    outcome.source.key,
                    outcome.bytes_in,
                    error=outcome.reason,
                    **where,
                )
            )
            reason = outcome.reason[:_REASON_MAX]
            await self.job.emit(
                SliceFailed(
                    **self.job.envelope(seq), **common, reason=reason, error_code=outcome.error_code
                )
            )
            return
        entry = planned.entry_name
        await self.writer.add(entry, encoded.data)
        self.count_encoded(encoded, 0.0 if outcome.reused else encoded.encode_ms)
        self.reused += outcome.reused
        self.bytes_in += outcome.bytes_in
        described: dict[str, Any] = {
            "slice_key": outcome.slice_key,
            "sop_instance_uid": encoded.sop_instance_uid or None,
            "source_sop_instance_uid": encoded.source_sop_instance_uid,
            "psnr_db": encoded.psnr_db,
            "max_error_hu": encoded.max_error_hu,
            "max_abs_error": encoded.max_abs_error,
        }
        self.entries.append(
            ManifestEntry(
                outcome.index,
                outcome.source.key,
                outcome.bytes_in,
                entry_name=entry,
                bytes_out=len(encoded.data),
                ratio=encoded.ratio,
                **described,
                **where,
            )
        )
        await self.job.emit(
            SliceEncoded(
                **self.job.envelope(seq),
                **common,
                **described,
                entry_name=entry,
                bytes_in=outcome.bytes_in,
                bytes_out=len(encoded.data),
                ratio=encoded.ratio,
                encode_ms=encoded.encode_ms,
                **where,
            )
        )

    def _where(self, planned: PlannedSlice) -> dict[str, Any]:
        """The slice's series and position, as events and the manifest give them."""
        series = planned.series
        return {
            "series_instance_uid": None if series is None else self.series_uid(series.uid) or None,
            "position": planned.header.position,
            "position_along_normal": planned.position_along_normal,
        }

    def manifest(self) -> bytes:
        request = self.job.request
        header = {
            "job_id": str(request.job_id),
            "tenant": request.tenant,
            "source_uri": request.source_uri,
            "codec": request.codec.value,
            "compression_rate": request.compression_rate,
            "attempt": self.job.attempt,
            "slices_total": self.total,
            "slices_encoded": self.encoded,
            "slices_failed": self.failed,
        }
        series = [self._series(s) for s in self.layout.series]
        return render_manifest(header, self.entries, series, self.others)

    def _series(self, series: Series) -> dict[str, Any]:
        return {
            "series_instance_uid": self.series_uid(series.uid) or None,
            "series_number": series.number,
            "series_description": series.description,
            "folder": series.folder,
            "slices": series.slices,
            "positioned": series.positioned,
            "orientation": series.orientation,
            "spacing": None if series.spacing is None else asdict(series.spacing),
            "gantry_tilt_deg": series.gantry_tilt_deg,
        }
