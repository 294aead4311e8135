"""What `GET /jobs/{id}/slices` shows: each slice with an outcome, and links to encoded ones."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from dicompress_api.web.camel import CAMEL

# The `job_slices` columns the view reads; the store selects exactly these.
SLICE_COLUMNS = (
    "slice_index",
    "status",
    "entry_name",
    "slice_key",
    "sop_instance_uid",
    "bytes_in",
    "bytes_out",
    "ratio",
    "psnr_db",
    "max_error_hu",
    "max_abs_error",
    "encode_ms",
    "error_code",
    "reason",
    "occurred_at",
)


class SliceView(BaseModel):
    """One slice: encoded (with `url`, valid until `urlExpiresAt`) or failed (with why)."""

    model_config = CAMEL

    index: int
    status: Literal["encoded", "failed"]
    entry_name: str | None = None
    sop_instance_uid: str | None = None
    bytes_in: int | None = None
    bytes_out: int | None = None
    ratio: float | None = None
    psnr_db: float | None = Field(
        default=None,
        description="PSNR in dB over the slice's own value range (max - min of the original's "
        "values; the same in HU): one scale for every scanner; none when lossless",
    )
    max_error_hu: float | None = Field(
        default=None,
        description="Largest pixel error in modality units: HU for CT, stored units without a "
        "rescale",
    )
    max_abs_error: int | None = Field(
        default=None, description="Largest pixel error in stored units"
    )
    encode_ms: float | None = None
    error_code: str | None = None
    reason: str | None = None
    occurred_at: datetime
    url: str | None = None


class SliceList(BaseModel):
    """The slices of a job that have an outcome so far, by index."""

    model_config = CAMEL

    job_id: uuid.UUID
    slices_total: int | None = None
    url_expires_at: datetime | None = None
    slices: list[SliceView]


def slice_view(row: Mapping[str, Any], presign: Callable[[str], str | None]) -> SliceView:
    """A slice row as shown; `presign(key)` links an encoded slice that has a stored object."""
    fields = {name: row.get(name) for name in SLICE_COLUMNS}
    key = fields.pop("slice_key")
    index = fields.pop("slice_index")
    url = presign(key) if key and fields["status"] == "encoded" else None
    return SliceView(index=index, url=url, **{k: v for k, v in fields.items() if v is not None})
