"""What `GET /jobs/{id}` shows: the progress service's projection row, in camelCase."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from dicompress_api.web.camel import CAMEL
from dicompress_schemas.jobs import Outcome, figures_of, outcome

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
    "slice_interval_ms",
    "eta_at",
    "codestream_estimate",
    "last_seq",
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


class FiguresView(BaseModel):
    """The contract's figures of the job (`dicompress_schemas.figures`): the same numbers the
    notifier's frames and the SSE stream carry at the same seq, so the viewer and the CLI show
    them as they are."""

    model_config = CAMEL

    slices_per_second: float | None = Field(
        default=None, description="Recent pace (items/s for a product); null when unknown or over"
    )
    eta_at: datetime | None = Field(
        default=None, description="When the remaining items should be done at that pace"
    )
    ratio: float | None = Field(
        default=None,
        description="Pixel bytes / codestream bytes: so far while running, exact once completed",
    )


class JobAnswer(BaseModel):
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
    outcome: Outcome | None = Field(
        default=None,
        description="How the job ended (null while it runs): completed, "
        "completed-with-failures (slicesFailed say how many), failed or cancelled",
    )
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
    last_seq: int | None = Field(default=None, description="The last event seq reflected here")
    figures: FiguresView


def job_answer(row: Mapping[str, Any]) -> JobAnswer:
    """Build the view of one projection row (missing counters count as zero)."""
    fields = {name: row.get(name) for name in COLUMNS}
    done = fields["slices_done"] or 0
    failed = fields["slices_failed"] or 0
    return JobAnswer(
        **{k: v for k, v in fields.items() if k not in _NESTED and v is not None},
        slices_done=done,
        slices_failed=failed,
        status=fields["status"],
        progress=progress(fields["status"], done + failed, fields["slices_total"]),
        outcome=outcome(fields["status"], fields["slices_total"], done, failed),
        timings=Timings(**{k: fields[k] for k in _TIMINGS}),
        timestamps=Timestamps(**{k: fields[k] for k in _TIMESTAMPS}),
        figures=FiguresView(**figures_of(fields).as_json()),
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
_FIGURES = ("slice_interval_ms", "eta_at", "codestream_estimate")
_NESTED = {*_TIMINGS, *_TIMESTAMPS, *_FIGURES, "slices_done", "slices_failed", "status"}
