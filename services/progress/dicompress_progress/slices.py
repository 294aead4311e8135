"""Per-slice rows (`job_slices`): what each slice event says about its one slice.

A viewer lists a job's ready slices from these rows while the job runs (each encoded slice's
own S3 key is readable as soon as its `SliceEncoded` arrives). The store writes a row only for
an event it folds into the job, so a slice event refused after the job ended adds no row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime

from dicompress_schemas import Event, SliceEncoded, SliceFailed


@dataclass(frozen=True)
class SliceRow:
    """One row of `job_slices`; field names are the column names."""

    job_id: uuid.UUID
    slice_index: int
    seq: int
    status: str
    source_key: str
    entry_name: str | None
    slice_key: str | None
    sop_instance_uid: str | None
    source_sop_instance_uid: str | None
    bytes_in: int | None
    bytes_out: int | None
    ratio: float | None
    psnr_db: float | None
    max_error_hu: float | None
    max_abs_error: int | None
    encode_ms: float | None
    error_code: str | None
    reason: str | None
    occurred_at: datetime

    def values(self) -> tuple[object, ...]:
        # Not dataclasses.astuple: it deep-copies every value, which cost more than the insert.
        return tuple(getattr(self, column) for column in COLUMNS)


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(SliceRow))


def slice_row(event: Event) -> SliceRow | None:
    """The row a slice event describes, or None for any other event."""
    if isinstance(event, SliceEncoded):
        return SliceRow(
            job_id=event.job_id,
            slice_index=event.slice_index,
            seq=event.seq,
            status="encoded",
            source_key=event.source_key,
            entry_name=event.entry_name,
            slice_key=event.slice_key,
            sop_instance_uid=event.sop_instance_uid,
            source_sop_instance_uid=event.source_sop_instance_uid,
            bytes_in=event.bytes_in,
            bytes_out=event.bytes_out,
            ratio=event.ratio,
            psnr_db=event.psnr_db,
            max_error_hu=event.max_error_hu,
            max_abs_error=event.max_abs_error,
            encode_ms=event.encode_ms,
            error_code=None,
            reason=None,
            occurred_at=event.occurred_at,
        )
    if isinstance(event, SliceFailed):
        return SliceRow(
            job_id=event.job_id,
            slice_index=event.slice_index,
            seq=event.seq,
            status="failed",
            source_key=event.source_key,
            entry_name=None,
            slice_key=None,
            sop_instance_uid=None,
            source_sop_instance_uid=None,
            bytes_in=None,
            bytes_out=None,
            ratio=None,
            psnr_db=None,
            max_error_hu=None,
            max_abs_error=None,
            encode_ms=None,
            error_code=event.error_code,
            reason=event.reason,
            occurred_at=event.occurred_at,
        )
    return None
