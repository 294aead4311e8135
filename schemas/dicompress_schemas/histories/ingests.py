"""An upload's ingest history for tests and benchmarks, built on the golden examples.

    h = IngestHistory("clinic-a")
    h.uploaded(); h.started(); h.image(-312.5, 1); h.rejection("README.TXT"); h.completed()

`IngestHistory` hands out an upload's events in order (ArchiveUploaded 0, IngestStarted 1, a
member event each from 2, then the end), each the golden example of its type with the fields a
test cares about replaced and the envelope filled as the ingest service fills it (`ingest_id`,
`tenant`, `seq`, `new_ingest_event_id`, a time 100 ms a seq after the start; `at=` sets another,
a datetime or seconds after the start).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from dicompress_schemas.codec import decode_ingest_event
from dicompress_schemas.histories.base import History, M
from dicompress_schemas.studies import (
    ArchiveUploaded,
    IngestCompleted,
    IngestFailed,
    IngestStarted,
    InstanceKind,
    InstanceStored,
    MemberRejected,
    instance_key,
    new_ingest_event_id,
)

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
STUDY = "1.2.826.0.1.3680043.8.498.1011"
AXIAL = "1.2.826.0.1.3680043.8.498.2001"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
FIRST_MEMBER_SEQ = 2  # uploaded 0, started 1


def sop_uid(series_uid: str, number: int) -> str:
    return f"{series_uid}.{number}"


class IngestHistory(History):
    """The events of one upload, in the order the ingest service emits them."""

    def __init__(
        self,
        tenant: str = "clinic-a",
        ingest_id: uuid.UUID | None = None,
        *,
        bucket: str = "dicompress-data",
        start: datetime = T0,
    ) -> None:
        super().__init__(
            "ingest_id", ingest_id or uuid.uuid4(), tenant, start, timedelta(milliseconds=100)
        )
        self.bucket = bucket
        self.seq = FIRST_MEMBER_SEQ
        self.stored: list[InstanceStored] = []
        self.rejected: list[MemberRejected] = []

    @property
    def ingest_id(self) -> uuid.UUID:
        return self.stream_id

    def uploaded(self, *, bare: bool = False, **fields: Any) -> ArchiveUploaded:
        """ArchiveUploaded (seq 0) of `{tenant}/uploads/{ingest}/study.zip`; `bare`: the model's
        defaults instead of the example's options (its ETag, upload id...), for an announcement
        a real ingest service reads."""
        names = {
            "bucket": self.bucket,
            "key": f"{self.tenant}/uploads/{self.ingest_id}/study.zip",
            "upload_id": None,
        }
        return self._event(ArchiveUploaded, 0, {**names, **fields}, bare=bare)

    def started(self, **fields: Any) -> IngestStarted:
        return self._event(IngestStarted, 1, fields)

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
            **self.golden("InstanceStored")["image"],
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
        names = {
            "member": f"DICOM/{sop_instance_uid[-8:]}",
            "key": key,
            "sha256": hashlib.sha256(sop_instance_uid.encode()).hexdigest(),
            "kind": kind.value,
            "sop_class_uid": sop_class_uid,
            "sop_instance_uid": sop_instance_uid,
            "study_instance_uid": study_uid,
            "series_instance_uid": series_uid,
        }
        event = self._event(InstanceStored, seq, {**names, **fields})
        self.stored.append(event)
        return event

    def rejection(self, member: str, **fields: Any) -> MemberRejected:
        event = self._event(MemberRejected, self._next(), {"member": member, **fields})
        self.rejected.append(event)
        return event

    def completed(self, skipped: int = 0, **fields: Any) -> IngestCompleted:
        """IngestCompleted after the last member, its counts those of the members handed out."""
        images = sum(1 for e in self.stored if e.kind is InstanceKind.IMAGE)
        totals = {
            "members": len(self.stored) + len(self.rejected),
            "instances_stored": len(self.stored),
            "images": images,
            "non_images": len(self.stored) - images,
            "rejected": len(self.rejected),
            "skipped": skipped,
            "bytes_stored": sum(e.bytes for e in self.stored),
            "study_instance_uids": sorted(
                {e.study_instance_uid for e in self.stored if e.study_instance_uid}
            ),
        }
        return self._event(IngestCompleted, self._next(), {**totals, **fields})

    def failed(self, **fields: Any) -> IngestFailed:
        return self._event(IngestFailed, self._next(), fields)

    def _event(self, model: type[M], seq: int, fields: dict[str, Any], *, bare: bool = False) -> M:
        seq = fields.pop("seq", seq)
        envelope = {
            "event_id": new_ingest_event_id(self.ingest_id, seq),
            "ingest_id": self.ingest_id,
            "tenant": self.tenant,
            "seq": seq,
            "occurred_at": self.at(seq, fields.pop("at", None)),
        }
        return self.build(model, decode_ingest_event, envelope, fields, bare=bare)

    def _next(self) -> int:
        seq = self.seq
        self.seq += 1
        return seq
