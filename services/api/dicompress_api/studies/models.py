"""Response bodies of the study index routes (camelCase JSON); `answers` builds them."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from dicompress_api.products.models import ProductView
from dicompress_api.web.camel import CAMEL


class StudyItem(BaseModel):
    """One study of the tenant: who, when, what, how much."""

    model_config = CAMEL

    id: uuid.UUID = Field(description="The API's id of the study (tenant + StudyInstanceUID)")
    study_instance_uid: str
    patient_name: str | None = None
    patient_id: str | None = None
    study_date: str | None = Field(default=None, description="DICOM DA, YYYYMMDD")
    study_description: str | None = None
    accession_number: str | None = None
    modalities: list[str]
    series_count: int
    instance_count: int
    image_count: int
    non_image_count: int
    bytes: int
    received_at: datetime = Field(description="When the first of its instances was stored")
    last_stored_at: datetime
    url: str


class StudyPage(BaseModel):
    """One page of the caller's studies; pass `nextCursor` back as `cursor` for the next one."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    items: list[StudyItem]
    next_cursor: str | None = None


class Spacing(BaseModel):
    """Gaps between neighbouring slices along the normal, mm."""

    model_config = CAMEL

    mean: float
    min: float
    max: float
    uniform: bool = Field(description="max - min within 0.01 mm")


class SeriesSummary(BaseModel):
    """A series: what it is, how many objects, and its geometry."""

    model_config = CAMEL

    series_instance_uid: str
    series_number: int | None = None
    series_description: str | None = None
    modality: str | None = None
    sop_class_uids: list[str]
    instance_count: int
    image_count: int
    non_image_count: int
    frame_count: int
    rows: int | None = None
    columns: int | None = None
    pixel_spacing: tuple[float, float] | None = Field(
        default=None, description="Row spacing, column spacing (mm)"
    )
    orientation: tuple[float, float, float, float, float, float] | None = Field(
        default=None, description="ImageOrientationPatient most of its images share"
    )
    orientation_uniform: bool
    slice_thickness: float | None = None
    spacing: Spacing | None = Field(default=None, description="None with fewer than 2 slices")
    gantry_tilt_deg: float | None = None
    url: str


class NonImageObject(BaseModel):
    """A DICOM object without pixels (report, DICOMDIR, presentation state): kept and listed."""

    model_config = CAMEL

    sop_instance_uid: str
    sop_class_uid: str
    series_instance_uid: str | None = None
    modality: str | None = None
    key: str
    bytes: int
    member: str = Field(description="Its name in the uploaded archive")


class Rejection(BaseModel):
    """A member of an upload that was not kept, and why."""

    model_config = CAMEL

    ingest_id: uuid.UUID
    member: str
    bytes: int
    error_code: str
    reason: str
    detail: str


class IngestRef(BaseModel):
    """An ingest that fed a study."""

    model_config = CAMEL

    ingest_id: uuid.UUID
    status: str
    file_name: str | None = None
    rejected: int
    uploaded_at: datetime | None = None
    url: str


class StudyDetail(StudyItem):
    """A study with its series, its objects without pixels, and the ingests that fed it with
    the members they rejected."""

    series: list[SeriesSummary]
    non_images: list[NonImageObject]
    ingests: list[IngestRef]
    rejections: list[Rejection]
    products: list[ProductView] = Field(
        default_factory=list,
        description="Previews, thumbnails and 3D snapshots of its series, newest first "
        "(also GET /studies/{id}/products)",
    )


class SliceItem(BaseModel):
    """One image of the series, in anatomical order."""

    model_config = CAMEL

    sop_instance_uid: str
    position: float | None = Field(
        description="Along the series' slice normal (mm); None without geometry (listed last)"
    )
    instance_number: int | None = None
    frames: int
    key: str


class Rescale(BaseModel):
    model_config = CAMEL

    slope: float
    intercept: float


class WindowPreset(BaseModel):
    model_config = CAMEL

    center: float
    width: float


class MultiFrame(BaseModel):
    model_config = CAMEL

    sop_instance_uid: str
    frames: int


class SeriesDetail(SeriesSummary):
    """A series slice by slice, with everything a viewer needs to stack and display it."""

    study_id: uuid.UUID
    study_instance_uid: str
    slices: list[SliceItem]
    without_geometry: int = Field(description="Images without position or orientation")
    rescale: list[Rescale] = Field(description="Distinct (slope, intercept), in slice order")
    windows: list[WindowPreset] = Field(description="Distinct presets, in slice order")
    bits_allocated: int | None = None
    bits_stored: int | None = None
    signed: bool | None = Field(default=None, description="PixelRepresentation 1")
    photometric_interpretation: str | None = None
    samples_per_pixel: int | None = None
    transfer_syntaxes: list[str]
    multi_frame: list[MultiFrame]
    non_images: list[NonImageObject]


class IngestCounts(BaseModel):
    model_config = CAMEL

    members: int = Field(description="Members considered (stored or rejected)")
    instances: int
    images: int
    non_images: int
    rejected: int
    skipped: int = Field(description="Folders, __MACOSX/ and ._* entries (known at the end)")


class IngestDetail(BaseModel):
    """An upload's ingest: how far it got, what it rejected, which studies it fed."""

    model_config = CAMEL

    ingest_id: uuid.UUID
    status: str = Field(description="queued, running, completed or failed")
    file_name: str | None = None
    key: str | None = None
    size: int | None = None
    content_type: str | None = None
    channel: str | None = None
    upload_id: uuid.UUID | None = None
    worker: str | None = None
    counts: IngestCounts
    bytes_stored: int
    error_code: str | None = None
    reason: str | None = None
    detail: str | None = None
    uploaded_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    rejections: list[Rejection]
    studies: list[StudyItem]
    unfiled: list[NonImageObject] = Field(
        description="Objects it stored that belong to no study (a DICOMDIR), under the ingest"
    )
