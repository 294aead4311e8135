"""What `GET /jobs/{id}` shows: the progress service's projection row, in camelCase."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from dicompress_api.camel import CAMEL

# The columns the view reads; the store selects exactly these.
COLUMNS = (
    "job_id",
    "status",
    "product_kind",
    "source_uri",
    "target_uri",
    "compression_rate",
    "codec",
    "slices_total",
    "slices_done",
    "slices_failed",
    "bytes_in",
    "bytes_out",
    "ratio",
    "artifact_uri",
    "artifact_bytes",
    "error_code",
    "reason",
    "worker",
    "download_ms",
    "encode_ms",
    "upload_ms",
    "wall_ms",
    "requested_at",
    "started_at",
    "finished_at",
    "updated_at",
)


class Timings(BaseModel):
    """Milliseconds spent per phase, known once the job is over."""

    model_config = CAMEL

    download_ms: float | None = None
    encode_ms: float | None = None
    upload_ms: float | None = None
    wall_ms: float | None = None


class Timestamps(BaseModel):
    """When the job was requested, started, finished, and last changed (UTC)."""

    model_config = CAMEL

    requested_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime | None = None


class JobView(BaseModel):
    """One job as its tenant sees it."""

    model_config = CAMEL

    job_id: uuid.UUID
    status: str | None
    product_kind: str | None = Field(
        default=None,
        description="None for a compression; preview, thumbnails or snapshot for a product "
        "(GET /studies/{id}/products describes it)",
    )
    source_uri: str | None = None
    target_uri: str | None = None
    compression_rate: float | None = None
    codec: str | None = None
    slices_done: int = 0
    slices_total: int | None = None
    slices_failed: int = 0
    progress: float = Field(ge=0, le=1, description="Share of slices handled, 0..1")
    bytes_in: int | None = None
    bytes_out: int | None = None
    ratio: float | None = None
    artifact_uri: str | None = None
    artifact_bytes: int | None = None
    error_code: str | None = None
    reason: str | None = None
    worker: str | None = None
    timings: Timings
    timestamps: Timestamps


def job_view(row: Mapping[str, Any]) -> JobView:
    """Build the view of one projection row (missing counters count as zero)."""
    fields = {name: row.get(name) for name in COLUMNS}
    done = fields["slices_done"] or 0
    failed = fields["slices_failed"] or 0
    return JobView(
        **{k: v for k, v in fields.items() if k not in _NESTED and v is not None},
        slices_done=done,
        slices_failed=failed,
        status=fields["status"],
        progress=progress(fields["status"], done + failed, fields["slices_total"]),
        timings=Timings(**{k: fields[k] for k in _TIMINGS}),
        timestamps=Timestamps(**{k: fields[k] for k in _TIMESTAMPS}),
    )


def progress(status: str | None, handled: int, total: int | None) -> float:
    """Share of slices handled (encoded or failed); a completed job is 1 even with no slices."""
    if status == "completed":
        return 1.0
    if not total:
        return 0.0
    return min(1.0, max(0.0, handled / total))


_TIMINGS = ("download_ms", "encode_ms", "upload_ms", "wall_ms")
_TIMESTAMPS = ("requested_at", "started_at", "finished_at", "updated_at")
_NESTED = {*_TIMINGS, *_TIMESTAMPS, "slices_done", "slices_failed", "status"}
