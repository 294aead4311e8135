"""Frozen, past-tense, versioned events of a study's ingest: an upload becomes indexed instances.

An upload (a ZIP of a study, or one DICOM file) is an *ingest*, identified by `ingest_id`.
`ArchiveUploaded` (seq 0, on the ingest requests topic) says the bytes are in S3, whichever way
they came (presigned multipart, streamed through the API, or put straight into the tenant's
`incoming/` folder). The ingest service then emits, on the ingest events topic, `IngestStarted`
(seq 1), one event per archive member in archive order (seq 2+i: `InstanceStored` or
`MemberRejected`), and a terminal `IngestCompleted` or `IngestFailed` right after the last.

The key of every message is the ingest id, not the study: one archive may hold several studies
(or add series to a study uploaded before), and an ingest's events must keep their order. Each
`InstanceStored` names its study and series, so the study index is a fold of these events.
Event ids derive from (ingest_id, seq): a re-run after a crash re-emits the same identities and
readers drop the duplicates.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from dicompress_schemas.envelope import DicomUid, Envelope

_INGEST_NAMESPACE = uuid.UUID("0b7c3f5e-2d1a-4f7b-9a57-57d1c0a1e2b4")
_STUDY_NAMESPACE = uuid.UUID("a3f1b2c4-5d6e-4f70-8a9b-0c1d2e3f4a5b")


def new_ingest_event_id(ingest_id: uuid.UUID, seq: int) -> uuid.UUID:
    """Deterministic id of an ingest's `seq`-th event, the same in every run."""
    return uuid.uuid5(_INGEST_NAMESPACE, f"{ingest_id}/{seq}")


def study_id(tenant: str, study_instance_uid: str) -> uuid.UUID:
    """The API's id of a tenant's study: the same StudyInstanceUID uploaded twice, or in parts,
    is one study; the same UID at another tenant is another study."""
    return uuid.uuid5(_STUDY_NAMESPACE, f"{tenant}/{study_instance_uid}")


def instance_key(tenant: str, study_uid: str, series_uid: str, sop_uid: str) -> str:
    """Where an ingested instance lives: content-derived, so storing it again is harmless."""
    return f"{tenant}/studies/{study_uid}/{series_uid}/{sop_uid}.dcm"


def study_prefix(tenant: str, study_uid: str, series_uid: str | None = None) -> str:
    """The S3 prefix of a study, or of one of its series."""
    prefix = f"{tenant}/studies/{study_uid}/"
    return prefix if series_uid is None else f"{prefix}{series_uid}/"


def unfiled_key(tenant: str, ingest_id: uuid.UUID, digest: str) -> str:
    """Where a DICOM object without a study (a DICOMDIR) is kept: under its ingest."""
    return f"{tenant}/ingests/{ingest_id}/unfiled/{digest}.dcm"


class UploadChannel(StrEnum):
    """How the archive reached S3."""

    PRESIGNED = "presigned"  # multipart straight to S3 with presigned part URLs
    STREAMED = "streamed"  # the request body of the API, written to S3 as it arrived
    BUCKET = "bucket-notification"  # put into {tenant}/incoming/ and announced by the store


class InstanceKind(StrEnum):
    """An image (any transfer syntax) is indexed by geometry; anything else is kept and listed."""

    IMAGE = "image"
    NON_IMAGE = "non-image"


class IngestEventBase(Envelope):
    """The envelope of every ingest event."""

    ingest_id: uuid.UUID


class ArchiveUploaded(IngestEventBase):
    """An upload is complete in S3: the study is received and its ingest can start."""

    type: Literal["ArchiveUploaded"] = "ArchiveUploaded"
    version: Literal[1] = 1
    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(min_length=1, max_length=1024, description="Under the tenant's prefix")
    size: int = Field(ge=0)
    etag: str = Field(default="", max_length=200)
    file_name: str = Field(max_length=255, description="The client's name for the upload")
    content_type: str = Field(default="application/zip", max_length=200)
    channel: UploadChannel
    upload_id: uuid.UUID | None = Field(default=None, description="The API's upload, if any")


class IngestStarted(IngestEventBase):
    """An ingest worker took the archive."""

    type: Literal["IngestStarted"] = "IngestStarted"
    version: Literal[1] = 1
    worker: str
    archive_bytes: int = Field(ge=0)


class ImageHeader(BaseModel):
    """What the index needs of an image's header (no pixels). Lengths as in the DICOM header;
    absent attributes are None."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    rows: int = Field(ge=1)
    columns: int = Field(ge=1)
    number_of_frames: int = Field(default=1, ge=1)
    pixel_spacing: tuple[float, float] | None = Field(
        default=None, description="Row spacing (between rows), column spacing, mm"
    )
    image_orientation: tuple[float, float, float, float, float, float] | None = None
    image_position: tuple[float, float, float] | None = None
    slice_thickness: float | None = None
    slice_location: float | None = None
    instance_number: int | None = None
    image_type: tuple[str, ...] = ()
    bits_allocated: int = Field(ge=1)
    bits_stored: int = Field(ge=1)
    pixel_representation: int = Field(ge=0, le=1, description="1: signed stored values")
    samples_per_pixel: int = Field(default=1, ge=1)
    photometric_interpretation: str
    rescale_slope: float | None = None
    rescale_intercept: float | None = None
    window_center: tuple[float, ...] = ()
    window_width: tuple[float, ...] = ()


class InstanceStored(IngestEventBase):
    """One DICOM object of the upload is stored, at a key derived from its UIDs."""

    type: Literal["InstanceStored"] = "InstanceStored"
    version: Literal[1] = 1
    member: str = Field(max_length=1024, description="Its name in the archive")
    key: str = Field(description="S3 key of the stored object (in the archive's bucket)")
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    kind: InstanceKind
    sop_class_uid: DicomUid
    sop_instance_uid: DicomUid
    study_instance_uid: DicomUid | None = Field(default=None, description="None for a DICOMDIR")
    series_instance_uid: DicomUid | None = None
    transfer_syntax_uid: DicomUid
    modality: str | None = None
    series_number: int | None = None
    series_description: str | None = None
    patient_name: str | None = None
    patient_id: str | None = None
    study_date: str | None = Field(default=None, description="DICOM DA, YYYYMMDD")
    study_description: str | None = None
    accession_number: str | None = None
    frame_of_reference_uid: DicomUid | None = None
    image: ImageHeader | None = Field(default=None, description="Present when kind is image")


class MemberRejected(IngestEventBase):
    """One member of the upload is not kept; `reason` says why in plain words."""

    type: Literal["MemberRejected"] = "MemberRejected"
    version: Literal[1] = 1
    member: str = Field(max_length=1024)
    bytes: int = Field(default=0, ge=0)
    error_code: str = Field(
        description="Stable cause: 'not-dicom', 'truncated', 'unsafe-name', 'invalid-uid', "
        "'too-large'"
    )
    reason: str = Field(max_length=1000)
    detail: str = Field(default="", max_length=2000, description="Technical detail, folded away")


class IngestCompleted(IngestEventBase):
    """Every member is stored, rejected or skipped: the upload is indexed."""

    type: Literal["IngestCompleted"] = "IngestCompleted"
    version: Literal[1] = 1
    members: int = Field(ge=0, description="Members considered (skipped ones excluded)")
    instances_stored: int = Field(ge=0)
    images: int = Field(ge=0)
    non_images: int = Field(ge=0)
    rejected: int = Field(ge=0)
    skipped: int = Field(ge=0, description="Folders, __MACOSX/ and ._* entries")
    bytes_stored: int = Field(ge=0)
    study_instance_uids: tuple[DicomUid, ...] = ()
    wall_ms: float = Field(ge=0)


class IngestFailed(IngestEventBase):
    """The upload could not be ingested as a whole (members already stored stay stored)."""

    type: Literal["IngestFailed"] = "IngestFailed"
    version: Literal[1] = 1
    error_code: str = Field(
        description="'not-an-archive', 'too-many-members', 'too-large', 'suspicious-ratio', "
        "'archive-missing', 'internal'"
    )
    reason: str = Field(max_length=1000)
    detail: str = Field(default="", max_length=2000)


IngestEvent = Annotated[
    ArchiveUploaded
    | IngestStarted
    | InstanceStored
    | MemberRejected
    | IngestCompleted
    | IngestFailed,
    Field(discriminator="type"),
]

IngestTerminal = IngestCompleted | IngestFailed

INGEST_EVENT_TYPES: tuple[type[IngestEventBase], ...] = (
    ArchiveUploaded,
    IngestStarted,
    InstanceStored,
    MemberRejected,
    IngestCompleted,
    IngestFailed,
)
