"""Rows of the study index that one member event describes: an instance (`study_instances`) or a
rejection (`ingest_rejections`). Pure; the store writes them.

An instance's `position` is its ImagePositionPatient along its own slice normal
(`dicompress_schemas.geometry`), so the index can order a series without reading headers; it is
None when the image has no position or orientation (or an orientation that defines no plane).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime

from dicompress_schemas import ImageHeader, InstanceStored, MemberRejected
from dicompress_schemas.geometry import GeometryError, position_along_normal


@dataclass(frozen=True)
class InstanceRow:
    """One row of `study_instances`; field names are the column names."""

    tenant: str
    sop_instance_uid: str
    study_instance_uid: str | None
    series_instance_uid: str | None
    key: str
    member: str
    kind: str
    sop_class_uid: str
    transfer_syntax_uid: str
    modality: str | None
    bytes: int
    sha256: str
    ingest_id: uuid.UUID
    seq: int
    header: str | None  # JSON text of the ImageHeader (a jsonb column)
    position: float | None
    instance_number: int | None
    number_of_frames: int | None
    frame_of_reference_uid: str | None
    patient_name: str | None
    patient_id: str | None
    study_date: str | None
    study_description: str | None
    accession_number: str | None
    series_number: int | None
    series_description: str | None
    first_stored_at: datetime
    stored_at: datetime

    def values(self) -> tuple[object, ...]:
        return tuple(getattr(self, column) for column in INSTANCE_COLUMNS)


@dataclass(frozen=True)
class RejectionRow:
    """One row of `ingest_rejections`; field names are the column names."""

    ingest_id: uuid.UUID
    seq: int
    tenant: str
    member: str
    bytes: int
    error_code: str
    reason: str
    detail: str
    occurred_at: datetime

    def values(self) -> tuple[object, ...]:
        return tuple(getattr(self, column) for column in REJECTION_COLUMNS)


INSTANCE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(InstanceRow))
REJECTION_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(RejectionRow))


def instance_row(event: InstanceStored) -> InstanceRow:
    """The `study_instances` row an `InstanceStored` describes."""
    image = event.image
    return InstanceRow(
        tenant=event.tenant,
        sop_instance_uid=event.sop_instance_uid,
        study_instance_uid=event.study_instance_uid,
        series_instance_uid=event.series_instance_uid,
        key=event.key,
        member=event.member,
        kind=event.kind.value,
        sop_class_uid=event.sop_class_uid,
        transfer_syntax_uid=event.transfer_syntax_uid,
        modality=event.modality,
        bytes=event.bytes,
        sha256=event.sha256,
        ingest_id=event.ingest_id,
        seq=event.seq,
        header=image.model_dump_json() if image is not None else None,
        position=position_of(image),
        instance_number=image.instance_number if image is not None else None,
        number_of_frames=image.number_of_frames if image is not None else None,
        frame_of_reference_uid=event.frame_of_reference_uid,
        patient_name=event.patient_name,
        patient_id=event.patient_id,
        study_date=event.study_date,
        study_description=event.study_description,
        accession_number=event.accession_number,
        series_number=event.series_number,
        series_description=event.series_description,
        first_stored_at=event.occurred_at,
        stored_at=event.occurred_at,
    )


def position_of(image: ImageHeader | None) -> float | None:
    """The image's position along its own slice normal (mm), or None without geometry."""
    if image is None or image.image_position is None or image.image_orientation is None:
        return None
    try:
        return position_along_normal(image.image_position, image.image_orientation)
    except GeometryError:
        return None


def rejection_row(event: MemberRejected) -> RejectionRow:
    """The `ingest_rejections` row a `MemberRejected` describes."""
    return RejectionRow(
        ingest_id=event.ingest_id,
        seq=event.seq,
        tenant=event.tenant,
        member=event.member,
        bytes=event.bytes,
        error_code=event.error_code,
        reason=event.reason,
        detail=event.detail,
        occurred_at=event.occurred_at,
    )
