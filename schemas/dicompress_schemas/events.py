"""Frozen, past-tense, versioned events: the facts of a compression job.

Every event shares one envelope (`EventBase`). `seq` is the event's place in its job's history:
`CompressionRequested` (a product's `ProductRequested`, see `products`) is 0, `JobStarted` 1,
the slices (or a product's images) follow in index order and the terminal event closes the
job. The compressor derives `event_id` from (job_id, seq, attempt), so an event re-emitted after
a crash has the same identity only if it is the same fact.

Consumers ignore fields they do not know (`extra="ignore"`); a breaking change adds a new
`version` and an upcaster in `upcast.py`, never an edit in place.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from dicompress_schemas.envelope import (
    Codec,
    Envelope,
    EventBase,
    OutputFilename,
    S3Uri,
    Tenant,
    new_event_id,
    utc_now,
)
from dicompress_schemas.products import ImageRendered, ProductRequested

__all__ = [
    "DEFAULT_MIN_PSNR_DB",
    "EVENT_TYPES",
    "Codec",
    "CompressionRate",
    "CompressionRequested",
    "Envelope",
    "Event",
    "EventBase",
    "ImageRendered",
    "JobCancelled",
    "JobCompleted",
    "JobFailed",
    "JobStarted",
    "OutputFilename",
    "ProductRequested",
    "PsnrFloor",
    "S3Uri",
    "SliceEncoded",
    "SliceFailed",
    "Tenant",
    "TerminalEvent",
    "new_event_id",
    "utc_now",
]


# Field types a request shares with its event (the API's request model uses these very ones).
CompressionRate = Annotated[float, Field(gt=1, le=1000)]
PsnrFloor = Annotated[float, Field(gt=0, le=200)]

# What "PSNR" means from version 2 of CompressionRequested and SliceEncoded on: the same figure
# for the same visible loss whatever the scanner's BitsStored (version 1 measured against
# 2**BitsStored - 1, so 60 dB let a 16-bit series err by 515 and refused a 12-bit one at 77).
PSNR_OVER_RANGE = (
    "PSNR in dB over the slice's own value range: 10 log10(peak^2 / mean squared error), "
    "peak = max - min of the original slice's stored values (1 for a flat slice), the same "
    "figure in modality units (HU) since the rescale is linear"
)

# The floor a lossy job gets when its request names none (the API's default): see the README's
# "Quality floor". 30 dB over the range is an RMS error of 3.2% of it (~70 HU on a CT slice from
# air to bone): organs, fat, air and bone stay apart, enough for a preview; JPEG 2000 at the
# API's default 100:1 measures 35-41 dB on CT, an 8-bit image with errors of 244 levels 18 dB.
DEFAULT_MIN_PSNR_DB = 30.0


class CompressionRequested(EventBase):
    """A tenant asked for a series to be compressed (published by the API)."""

    type: Literal["CompressionRequested"] = "CompressionRequested"
    version: Literal[2] = 2
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
    min_psnr_db: PsnrFloor | None = Field(
        default=None,
        description="Quality floor of a lossy job: the lowest psnr_db (SliceEncoded v2: "
        + PSNR_OVER_RANGE
        + ") a slice may have; a slice below it fails ('below-quality-floor') instead of "
        "shipping. None: no floor (lossless codecs). Version 1's min_psnr, against the "
        "BitsStored peak, is read as this same number (upcast.py): never a looser floor",
    )
    include_non_image: bool = Field(
        default=True,
        description="Copy DICOM objects without pixel data (DICOMDIR, SR, presentation states) "
        "into the ZIP as they are; false leaves them out. Never counted as slices",
    )

    @model_validator(mode="after")
    def _rate_fits_codec(self) -> CompressionRequested:
        if self.codec.lossless and self.compression_rate is not None:
            raise ValueError(f"codec {self.codec.value} is lossless: give no compression_rate")
        if not self.codec.lossless and self.compression_rate is None:
            raise ValueError(f"codec {self.codec.value} is lossy: compression_rate is required")
        return self


class JobStarted(EventBase):
    """A compressor took the job and listed its slices."""

    type: Literal["JobStarted"] = "JobStarted"
    version: Literal[1] = 1
    total_slices: int = Field(ge=0)
    total_bytes: int = Field(ge=0, description="Sum of the source objects' sizes")
    worker: str = Field(description="Which compressor instance runs the job")


class SliceEncoded(EventBase):
    """One slice was encoded; it is in the job's artifact as `entry_name`."""

    type: Literal["SliceEncoded"] = "SliceEncoded"
    version: Literal[2] = 2
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
    psnr_db: float | None = Field(
        default=None,
        description=PSNR_OVER_RANGE
        + "; against the original pixels. None when lossless (identical), and for an event "
        "written as version 1, whose PSNR against the BitsStored peak is not this measure",
    )
    max_error_hu: float | None = Field(
        default=None,
        ge=0,
        description="Largest absolute pixel error in modality units: Hounsfield units for CT "
        "(stored error x |RescaleSlope|), stored units for an image without a rescale; 0 when "
        "lossless, None for an event written as version 1",
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


class SliceFailed(EventBase):
    """One slice could not be encoded; the job goes on without it."""

    type: Literal["SliceFailed"] = "SliceFailed"
    version: Literal[1] = 1
    slice_index: int = Field(ge=0)
    total_slices: int = Field(ge=1)
    source_key: str
    reason: str
    error_code: str = Field(
        default="slice-failed",
        description="Stable cause, e.g. 'not-dicom', 'no-pixel-data', 'unsupported', "
        "'below-quality-floor'",
    )


class JobCompleted(EventBase):
    """The artifact is written; the job is over."""

    type: Literal["JobCompleted"] = "JobCompleted"
    version: Literal[1] = 1
    slices_encoded: int = Field(ge=0)
    slices_failed: int = Field(ge=0)
    bytes_in: int = Field(ge=0)
    bytes_out: int = Field(ge=0, description="Sum of the encoded DICOM files' sizes")
    ratio: float = Field(ge=0, description="Pixel bytes / codestream bytes over the whole series")
    artifact_uri: str
    artifact_bytes: int = Field(ge=0)
    download_ms: float = Field(ge=0)
    encode_ms: float = Field(ge=0, description="CPU time spent encoding, summed over slices")
    upload_ms: float = Field(ge=0)
    wall_ms: float = Field(ge=0)
    cpu_s: float | None = Field(default=None, ge=0, description="CPU seconds of the worker")
    peak_rss_bytes: int | None = Field(
        default=None, ge=0, description="Peak resident memory of the worker and its encoders"
    )


class JobFailed(EventBase):
    """The job could not be done; `reason` says why and what to do."""

    type: Literal["JobFailed"] = "JobFailed"
    version: Literal[1] = 1
    error_code: str = Field(description="Stable machine-readable cause, e.g. 'source-empty'")
    reason: str


class JobCancelled(EventBase):
    """The job was cancelled before it finished."""

    type: Literal["JobCancelled"] = "JobCancelled"
    version: Literal[1] = 1
    reason: str = ""


Event = Annotated[
    CompressionRequested
    | ProductRequested
    | JobStarted
    | SliceEncoded
    | SliceFailed
    | ImageRendered
    | JobCompleted
    | JobFailed
    | JobCancelled,
    Field(discriminator="type"),
]

TerminalEvent = JobCompleted | JobFailed | JobCancelled

EVENT_TYPES: tuple[type[EventBase], ...] = (
    CompressionRequested,
    ProductRequested,
    JobStarted,
    SliceEncoded,
    SliceFailed,
    ImageRendered,
    JobCompleted,
    JobFailed,
    JobCancelled,
)
