"""The slices of a preview (or a Mini CT) as they come out of the pool: counted, and told as
SliceEncoded / SliceFailed events (seq 2+i), with JobCompleted's totals at the end."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from dicompress_compressor.preview.stream import GroupOutcome
from dicompress_compressor.slice_counts import SliceCounts
from dicompress_schemas import EventBase, SliceEncoded, SliceFailed

log = logging.getLogger(__name__)

_REASON_MAX = 1000


class Job(Protocol):
    log_extra: dict[str, Any]

    def envelope(self, seq: int) -> dict[str, Any]: ...

    async def emit(self, event: EventBase) -> None: ...


class PreviewCounts(SliceCounts):
    """Emits each outcome's event and adds it up. `series_uid` is the preview series' UID."""

    def __init__(
        self, job: Job, total: int, series_uid: str, object_uid: str | None = None
    ) -> None:
        super().__init__()
        self.job = job
        self.total = total
        self.series_uid = series_uid
        # a multi-frame product: every frame's event names the one object it goes into
        self.object_uid = object_uid

    async def record(self, outcome: GroupOutcome) -> None:
        group, made = outcome.group, outcome.made
        first = group.first.header.source.key
        common: dict[str, Any] = {
            "slice_index": group.index,
            "total_slices": self.total,
            "source_key": first,
        }
        self.bytes_in += outcome.bytes_in
        self.download_ms += outcome.download_ms
        self.upload_ms += outcome.upload_ms
        envelope = self.job.envelope(2 + group.index)
        if made is None:
            self.count_failed(first, outcome.reason)
            extra = {**self.job.log_extra, **common, "reason": outcome.reason}
            log.warning("slice failed", extra=extra)
            await self.job.emit(
                SliceFailed(
                    **envelope,
                    **common,
                    reason=outcome.reason[:_REASON_MAX],
                    error_code=outcome.error_code,
                )
            )
            return
        encoded = made.encoded
        self.count_encoded(encoded, encoded.encode_ms)
        await self.job.emit(
            SliceEncoded(
                **envelope,
                **common,
                entry_name=outcome.entry_name,
                bytes_in=outcome.bytes_in,
                bytes_out=len(encoded.data),
                ratio=encoded.ratio,
                encode_ms=encoded.encode_ms,
                slice_key=outcome.key,
                sop_instance_uid=self.object_uid or encoded.sop_instance_uid,
                source_sop_instance_uid=encoded.source_sop_instance_uid,
                psnr_db=encoded.psnr_db,
                max_error_hu=encoded.max_error_hu,
                max_abs_error=encoded.max_abs_error,
                series_instance_uid=self.series_uid,
                position=made.position,
                position_along_normal=made.position_along_normal,
            )
        )

    def totals(self) -> dict[str, Any]:
        """JobCompleted's counters; the preview's artifact is its slices."""
        return super().totals() | {"artifact_bytes": self.bytes_out, "upload_ms": self.upload_ms}
