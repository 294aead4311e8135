"""Bodies of POST /studies/{id}/series/{uid}/mini-ct (camelCase JSON).

The request names a region as a person does (slice indexes or millimetres, a pixel box or a box
in millimetres around a point of the patient); `mini_ct_region` turns it into the contract's
`MiniCtParams` (indexes only), so one region has one identity however it was asked for.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from dicompress_api.web.camel import CAMEL
from dicompress_schemas import Codec
from dicompress_schemas.products import MiniCtFormat

_BODY = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")


class CodecPreset(StrEnum):
    """Named codec choices, as the design documents say them ("Rate10")."""

    LOSSLESS = "lossless"
    RATE10 = "rate10"
    RATE20 = "rate20"


PRESETS: Final[dict[CodecPreset, tuple[Codec, float | None]]] = {
    CodecPreset.LOSSLESS: (Codec.J2K_LOSSLESS, None),
    CodecPreset.RATE10: (Codec.J2K_LOSSY, 10.0),
    CodecPreset.RATE20: (Codec.J2K_LOSSY, 20.0),
}


class PixelBox(BaseModel):
    """Rows `row`..`row + rows - 1` and columns `column`..`column + columns - 1` of each slice
    (0-based, row 0 at the top of the stored image)."""

    model_config = _BODY

    row: int
    column: int
    rows: int
    columns: int


class MillimetreBox(BaseModel):
    """A box in the slice plane: `size` = (width along the row direction, height along the
    column direction of ImageOrientationPatient), in mm, centred on the patient point `center`
    (x, y, z in the patient frame, LPS, mm; e.g. a point picked in a viewer). It covers the
    pixels whose centres lie inside it, at least the one under `center`."""

    model_config = _BODY

    center: tuple[float, float, float]
    size: tuple[float, float]


class MiniCtRequest(BaseModel):
    """A region of one series and how to deliver it."""

    model_config = _BODY

    z_start: float | None = Field(
        default=None,
        description="First slice: an index in anatomical order (zUnit index) or a position "
        "along the slice normal in mm (zUnit mm), as GET /studies/{id}/series/{uid} lists "
        "them; default the first slice",
    )
    z_end: float | None = Field(default=None, description="Last slice (included); default the last")
    z_unit: Literal["index", "mm"] = Field(
        default="index", description="mm: the slices whose position lies in [zStart, zEnd]"
    )
    roi: PixelBox | None = Field(default=None, description="A pixel box; default whole slices")
    roi_mm: MillimetreBox | None = Field(default=None, description="Or a box in millimetres")
    downsample: Literal[1, 2, 4] = Field(default=1, description="In-plane block means, n x n")
    format: MiniCtFormat = Field(
        default=MiniCtFormat.SERIES,
        description="series (a ZIP of single-frame objects) or multiframe (one Enhanced object)",
    )
    codec: Codec | None = Field(
        default=None, description="Default j2k-lossless, or j2k-lossy when a rate is given"
    )
    rate: float | None = Field(default=None, description="Compression ratio of a lossy codec")
    preset: CodecPreset | None = Field(
        default=None, description="Instead of codec and rate: lossless, rate10, rate20"
    )

    @model_validator(mode="after")
    def _one_way_each(self) -> MiniCtRequest:
        if self.roi is not None and self.roi_mm is not None:
            raise ValueError("give roi (pixels) or roiMm (millimetres), not both")
        if self.preset is not None and (self.codec is not None or self.rate is not None):
            raise ValueError("give a preset or a codec and rate, not both")
        return self

    def codec_and_rate(self) -> tuple[Codec, float | None]:
        if self.preset is not None:
            return PRESETS[self.preset]
        if self.codec is None:
            return (
                (Codec.J2K_LOSSY, self.rate)
                if self.rate is not None
                else PRESETS[CodecPreset.LOSSLESS]
            )
        return self.codec, self.rate


class RegionView(BaseModel):
    """The region as the product holds it (indexes), and where it lies in millimetres."""

    model_config = CAMEL

    z_start: int
    z_end: int
    slices: int
    first_mm: float = Field(description="Position of slice zStart along the slice normal")
    last_mm: float
    roi: PixelBox | None = None


class MiniCtAnswer(BaseModel):
    """The Mini CT: 200 when it is over (completed: `downloadUrl`), 202 while it is being made
    (follow it at `streamUrl` or over the WebSocket, then ask again for the URL)."""

    model_config = CAMEL

    id: uuid.UUID = Field(description="Its job id (derived from its identity)")
    status: str = Field(description="queued, running, completed, failed or cancelled")
    product_key: str
    series_instance_uid: str
    params: dict[str, Any] = Field(description="The contract's MiniCtParams")
    region: RegionView
    job_url: str
    stream_url: str
    download_url: str | None = Field(
        default=None, description="Short-lived URL of the ZIP (series) or the .dcm (multiframe)"
    )
    url_expires_at: datetime | None = None
    artifact_bytes: int | None = None
    error_code: str | None = None
    reason: str | None = None
