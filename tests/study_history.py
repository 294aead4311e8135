"""Ingest histories for tests, built on the contract's golden examples (schemas/examples).

`IngestHistory` hands out an upload's events in order (seq 0, 1, 2...), each one the golden
example with the fields a test cares about replaced, validated by the contract's own decoder.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from dicompress_schemas import (
    ArchiveUploaded,
    IngestCompleted,
    IngestEvent,
    IngestFailed,
    IngestStarted,
    InstanceKind,
    InstanceStored,
    MemberRejected,
    decode_ingest_event,
    new_ingest_event_id,
)
from dicompress_schemas.studies import instance_key

EXAMPLES = Path(__file__).parents[1] / "schemas" / "examples"
T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
STUDY = "1.2.826.0.1.3680043.8.498.1011"
AXIAL = "1.2.826.0.1.3680043.8.498.2001"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"


@cache
def example(type_name: str) -> dict[str, Any]:
    """The golden example of an event type, as JSON."""
    data: dict[str, Any] = orjson.loads((EXAMPLES / f"{type_name}.v1.json").read_bytes())
    return data


def sop_uid(series_uid: str, number: int) -> str:
    return f"{series_uid}.{number}"


class IngestHistory:
    """The events of one upload, in the order the ingest service emits them."""

    def __init__(
        self,
        tenant: str = "clinic-a",
        ingest_id: uuid.UUID | None = None,
        *,
        bucket: str = "dicompress-data",
        start: datetime = T0,
    ) -> None:
        self.tenant = tenant
        self.ingest_id = ingest_id or uuid.uuid4()
        self.bucket = bucket
        self.start = start
        self.seq = 2  # member events start at 2
        self.stored: list[InstanceStored] = []
        self.rejected: list[MemberRejected] = []

    def _event(self, type_name: str, seq: int, **fields: Any) -> IngestEvent:
        data = {
            **example(type_name),
            "event_id": str(new_ingest_event_id(self.ingest_id, seq)),
            "ingest_id": str(self.ingest_id),
            "tenant": self.tenant,
            "seq": seq,
            "occurred_at": (self.start + timedelta(milliseconds=100 * seq)).isoformat(),
            **fields,
        }
        return decode_ingest_event(data)

    def uploaded(self, **fields: Any) -> ArchiveUploaded:
        event = self._event(
            "ArchiveUploaded",
            0,
            bucket=self.bucket,
            key=f"{self.tenant}/uploads/{self.ingest_id}/study.zip",
            upload_id=None,
            **fields,
        )
        assert isinstance(event, ArchiveUploaded)
        return event

    def started(self) -> IngestStarted:
        event = self._event("IngestStarted", 1)
        assert isinstance(event, IngestStarted)
        return event

    def image(
        self,
        z: float,
        number: int,
        *,
        series_uid: str = AXIAL,
        study_uid: str = STUDY,
        orientation: tuple[float, ...] | None = (1, 0, 0, 0, 1, 0),
        frames: int = 1,
        **fields: Any,
    ) -> InstanceStored:
        """An axial CT slice at table position `z` (mm) with InstanceNumber `number`."""
        header = {
            **example("InstanceStored")["image"],
            "image_position": [-180.0, -180.0, z] if orientation else None,
            "image_orientation": list(orientation) if orientation else None,
            "slice_location": z,
            "instance_number": number,
            "number_of_frames": frames,
        }
        return self.instance(
            sop_uid(series_uid, number),
            series_uid=series_uid,
            study_uid=study_uid,
            image=header,
            **fields,
        )

    def instance(
        self,
        sop_instance_uid: str,
        *,
        series_uid: str | None = AXIAL,
        study_uid: str | None = STUDY,
        kind: InstanceKind = InstanceKind.IMAGE,
        sop_class_uid: str = CT_IMAGE,
        **fields: Any,
    ) -> InstanceStored:
        """Any stored object (pass `image=None` and `kind=NON_IMAGE` for one without pixels)."""
        seq = self._next()
        key = (
            instance_key(self.tenant, study_uid, series_uid, sop_instance_uid)
            if study_uid and series_uid
            else f"{self.tenant}/ingests/{self.ingest_id}/unfiled/{seq}.dcm"
        )
        event = self._event(
            "InstanceStored",
            seq,
            member=f"DICOM/{sop_instance_uid[-8:]}",
            key=key,
            sha256=hashlib.sha256(sop_instance_uid.encode()).hexdigest(),
            kind=kind.value,
            sop_class_uid=sop_class_uid,
            sop_instance_uid=sop_instance_uid,
            study_instance_uid=study_uid,
            series_instance_uid=series_uid,
            **fields,
        )
        assert isinstance(event, InstanceStored)
        self.stored.append(event)
        return event

    def rejection(self, member: str, **fields: Any) -> MemberRejected:
        event = self._event("MemberRejected", self._next(), member=member, **fields)
        assert isinstance(event, MemberRejected)
        self.rejected.append(event)
        return event

    def completed(self, skipped: int = 0) -> IngestCompleted:
        images = sum(1 for e in self.stored if e.kind is InstanceKind.IMAGE)
        event = self._event(
            "IngestCompleted",
            self._next(),
            members=len(self.stored) + len(self.rejected),
            instances_stored=len(self.stored),
            images=images,
            non_images=len(self.stored) - images,
            rejected=len(self.rejected),
            skipped=skipped,
            bytes_stored=sum(e.bytes for e in self.stored),
            study_instance_uids=sorted(
                {e.study_instance_uid for e in self.stored if e.study_instance_uid}
            ),
        )
        assert isinstance(event, IngestCompleted)
        return event

    def failed(self, **fields: Any) -> IngestFailed:
        event = self._event("IngestFailed", self._next(), **fields)
        assert isinstance(event, IngestFailed)
        return event

    def _next(self) -> int:
        seq = self.seq
        self.seq += 1
        return seq
