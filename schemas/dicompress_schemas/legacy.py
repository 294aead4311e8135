"""Superseded versions of events, frozen as they were published: what the log still holds.

Nothing decodes into these: `upcast.py` lifts an old payload to the current version before it
is validated. They are kept so the JSON Schema of every version ever published stays generated
and checked (`jsonschema.py`, `tests/contract`), and their golden examples keep validating.
Never edit a class here; a new superseded version is a new class, titled as its event.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from dicompress_schemas.envelope import Codec, EventBase, OutputFilename, S3Uri
from dicompress_schemas.events import CompressionRate, PsnrFloor


class CompressionRequestedV1(EventBase):
    """A tenant asked for a series to be compressed (published by the API)."""

    model_config = ConfigDict(title="CompressionRequested")

    type: Literal["CompressionRequested"] = "CompressionRequested"
    version: Literal[1] = 1
    source_uri: S3Uri = Field(description="S3 prefix holding the DICOM slices")
    target_uri: S3Uri = Field(description="S3 prefix the ZIP artifact is written under")
    compression_rate: CompressionRate | None = Field(
        default=None,
        description="Original pixel bytes / codestream bytes, as gdcmconv means it; "
        "required by lossy codecs, absent for lossless ones",
    )
    codec: Codec = Codec.J2K_LOSSY
    anonymize: bool = False
    output_filename: OutputFilename | None = Field(
        default=None, description="ZIP file name under target_uri; default from the naming rules"
    )
    overwrite_existing: bool = False
    min_psnr: PsnrFloor | None = Field(
        default=None,
        description="Quality floor in dB: a lossy slice below it fails instead of shipping",
    )
    include_non_image: bool = Field(
        default=True,
        description="Copy DICOM objects without pixel data (DICOMDIR, SR, presentation states) "
        "into the ZIP as they are; false leaves them out. Never counted as slices",
    )

    @model_validator(mode="after")
    def _rate_fits_codec(self) -> CompressionRequestedV1:
        if self.codec.lossless and self.compression_rate is not None:
            raise ValueError(f"codec {self.codec.value} is lossless: give no compression_rate")
        if not self.codec.lossless and self.compression_rate is None:
            raise ValueError(f"codec {self.codec.value} is lossy: compression_rate is required")
        return self


class SliceEncodedV1(EventBase):
    """One slice was encoded; it is in the job's artifact as `entry_name`."""

    model_config = ConfigDict(title="SliceEncoded")

    type: Literal["SliceEncoded"] = "SliceEncoded"
    version: Literal[1] = 1
    slice_index: int = Field(ge=0)
    total_slices: int = Field(ge=1)
    source_key: str
    entry_name: str
    bytes_in: int = Field(ge=0, description="Size of the source DICOM file")
    bytes_out: int = Field(ge=0, description="Size of the encoded DICOM file")
    ratio: float = Field(gt=0, description="Measured pixel bytes / codestream bytes")
    encode_ms: float = Field(ge=0)
    slice_key: str | None = Field(
        default=None, description="S3 key of the encoded slice, readable as soon as this arrives"
    )
    sop_instance_uid: str | None = Field(default=None, description="UID of the encoded slice")
    source_sop_instance_uid: str | None = Field(default=None, description="UID of the original")
    psnr: float | None = Field(
        default=None, description="dB against the original pixels; None when lossless (identical)"
    )
    max_abs_error: int | None = Field(
        default=None, ge=0, description="Largest absolute difference of a stored pixel value"
    )
    series_instance_uid: str | None = Field(
        default=None, description="Series of the slice; slice indexes run series by series"
    )
    position: tuple[float, float, float] | None = Field(
        default=None, description="ImagePositionPatient of the slice (mm), when it has one"
    )
    position_along_normal: float | None = Field(
        default=None,
        description="Distance along the slice normal (mm): the order of slices in their series "
        "(dicompress_schemas.geometry)",
    )


LEGACY_EVENT_TYPES: tuple[type[EventBase], ...] = (CompressionRequestedV1, SliceEncodedV1)
