"""The ingest core on in-memory archives: member rules, classification, keys, event order,
caps, the central-directory fallback, and a re-run that changes nothing."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Iterator
from typing import IO

import pytest

from dicompress_ingest.ingest import Ingest, IngestContext
from dicompress_ingest.members import Caps
from dicompress_schemas import (
    ArchiveUploaded,
    IngestCompleted,
    IngestEventBase,
    IngestFailed,
    IngestStarted,
    InstanceStored,
    MemberRejected,
    UploadChannel,
    new_ingest_event_id,
)
from dicompress_schemas.attempts import AttemptMarker, ingest_ceiling, next_attempt
from dicompress_schemas.histories import IngestHistory
from dicompress_stack.synthetic_ct import slice_bytes

TENANT = "clinic-a"
CAPS = Caps(max_members=1000, max_total_bytes=2**30, max_member_bytes=2**28, max_ratio=100)


class BytesSource:
    def __init__(self, data: bytes, chunk: int = 4096) -> None:
        self.data = data
        self.size = len(data)
        self.chunk = chunk
        self.ranged = 0

    def stream(self) -> Iterator[bytes]:
        for start in range(0, len(self.data), self.chunk):
            yield self.data[start : start + self.chunk]

    def read_range(self, start: int, length: int) -> bytes:
        self.ranged += 1
        return self.data[start : start + length]


class MemoryStore:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.writes = 0

    def put(
        self, bucket: str, key: str, fp: IO[bytes], size: int, sha256: str, rerun: bool
    ) -> bool:
        if rerun and self.objects.get(key, (b"", ""))[1] == sha256:
            return False
        fp.seek(0)
        self.objects[key] = (fp.read(), sha256)
        self.writes += 1
        return True


def request(file_name: str = "study.zip") -> ArchiveUploaded:
    return IngestHistory(TENANT, uuid.UUID(int=7)).uploaded(
        bare=True,
        key=f"{TENANT}/uploads/x/{file_name}",
        size=0,
        file_name=file_name,
        channel=UploadChannel.PRESIGNED,
    )


def run(
    data: bytes,
    store: MemoryStore | None = None,
    caps: Caps = CAPS,
    name: str = "study.zip",
    attempt: int = 1,
    floor: int = 1,
) -> tuple[list[IngestEventBase], MemoryStore]:
    events: list[IngestEventBase] = []
    store = store or MemoryStore()
    context = IngestContext(
        BytesSource(data), store, events.append, caps, "test-worker", attempt, floor
    )
    Ingest(request(name), context).run()
    return events, store


def build_zip(members: list[tuple[str, bytes]], stored: bool = False) -> bytes:
    out = io.BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in members:
            if name.endswith("/"):
                archive.mkdir(name.rstrip("/"))
            else:
                archive.writestr(name, data)
    return out.getvalue()


SLICES = [slice_bytes(i, n_slices=4, size=32) for i in range(4)]


def test_a_study_archive_becomes_one_event_per_member_in_order() -> None:
    data = build_zip(
        [
            ("DICOM/", b""),
            ("DICOM/I10", SLICES[2]),
            ("DICOM/I2", SLICES[0]),
            ("__MACOSX/DICOM/._I10", b"\x00\x05\x16\x07"),
            ("DICOM/README.TXT", b"exported by a PACS"),
            ("DICOM/I3", SLICES[1][: len(SLICES[1]) // 2]),
            ("../../etc/passwd.dcm", SLICES[3]),
            ("DICOM/I4", SLICES[3]),
        ]
    )
    events, store = run(data)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert isinstance(events[0], IngestStarted)
    kinds = [(type(e).__name__, getattr(e, "error_code", None)) for e in events[1:-1]]
    assert kinds == [
        ("InstanceStored", None),
        ("InstanceStored", None),
        ("MemberRejected", "not-dicom"),
        ("MemberRejected", "truncated"),
        ("MemberRejected", "unsafe-name"),
        ("InstanceStored", None),
    ]
    done = events[-1]
    assert isinstance(done, IngestCompleted)
    assert (done.members, done.images, done.rejected, done.skipped) == (6, 3, 3, 2)
    stored = [e for e in events if isinstance(e, InstanceStored)]
    assert {e.member for e in stored} == {"DICOM/I10", "DICOM/I2", "DICOM/I4"}
    for event in stored:
        assert event.key == (
            f"{TENANT}/studies/{event.study_instance_uid}/{event.series_instance_uid}/"
            f"{event.sop_instance_uid}.dcm"
        )
        assert event.image is not None
        assert event.image.image_position is not None
        assert store.objects[event.key][1] == event.sha256
    assert len(store.objects) == 3
    assert done.study_instance_uids == (stored[0].study_instance_uid,)


def test_a_rerun_emits_the_same_events_and_writes_nothing_again() -> None:
    data = build_zip([(f"s{i}.dcm", s) for i, s in enumerate(SLICES)])
    first, store = run(data)
    writes = store.writes
    second, _ = run(data, store, attempt=2)
    assert [e.event_id for e in first] == [e.event_id for e in second]
    assert store.writes == writes == 4


def test_a_rerun_that_fails_earlier_puts_its_end_past_the_first_runs_ceiling() -> None:
    # the first run recorded the cap's ceiling, stored members and was killed; the re-run
    # finds the archive damaged after two members
    floor = next_attempt([AttemptMarker("first", ingest_ceiling(CAPS.max_members))]).floor
    data = build_zip([(f"s{i}.dcm", s) for i, s in enumerate(SLICES)], stored=True)
    cut = data.index(b"PK\x03\x04", data.index(SLICES[1]))  # after two whole members
    events, _ = run(data[:cut] + b"garbage", attempt=2, floor=floor)
    assert [e.seq for e in events[:-1]] == [1, 2, 3]  # the same seqs and ids as the first run
    failed = events[-1]
    assert isinstance(failed, IngestFailed)
    assert failed.seq == floor == CAPS.max_members + 3  # past any seq the first run used
    assert failed.event_id == new_ingest_event_id(failed.ingest_id, failed.seq)
    # a re-run that completes keeps the completion's own seq: the first run's id if it had one
    events, _ = run(data, attempt=2, floor=floor)
    assert isinstance(events[-1], IngestCompleted)
    assert events[-1].seq == 2 + len(SLICES)


def test_a_single_dicom_upload_is_one_member() -> None:
    events, store = run(SLICES[0], name="I10")
    assert [type(e) for e in events] == [IngestStarted, InstanceStored, IngestCompleted]
    assert events[1].member == "I10"  # type: ignore[attr-defined]
    assert len(store.objects) == 1


def test_nothing_dicom_fails_the_ingest_with_each_file_listed() -> None:
    events, store = run(b"%PDF-1.7 a referral letter", name="letter.pdf")
    assert isinstance(events[1], MemberRejected)
    assert events[1].error_code == "not-dicom"
    assert isinstance(events[-1], IngestFailed)
    assert events[-1].error_code == "no-dicom"
    assert events[-1].seq == 3
    assert store.objects == {}


def test_a_zip_bomb_stops_before_its_output_is_stored() -> None:
    bomb = build_zip([("a.dcm", SLICES[0]), ("b.dcm", bytes(64 * 2**20))])
    assert len(bomb) < 2**20
    events, store = run(bomb)
    assert isinstance(events[-1], IngestFailed)
    assert events[-1].error_code == "suspicious-ratio"
    assert "zip bomb" in events[-1].reason
    assert [type(e) for e in events] == [IngestStarted, InstanceStored, IngestFailed]
    assert events[-1].seq == 3  # no gap: the member that tripped the cap has no event
    assert len(store.objects) == 1


@pytest.mark.parametrize("name", ["__MACOSX/._b.dcm", "../../b.dcm"])
def test_a_bomb_in_a_skipped_or_refused_member_is_stopped_too(name: str) -> None:
    bomb = build_zip([("a.dcm", SLICES[0]), (name, bytes(64 * 2**20))])
    events, _ = run(bomb)
    assert isinstance(events[-1], IngestFailed)
    assert events[-1].error_code == "suspicious-ratio"


@pytest.mark.parametrize(
    ("caps", "code"),
    [
        (
            Caps(max_members=2, max_total_bytes=2**30, max_member_bytes=2**28, max_ratio=100),
            "too-many-members",
        ),
        (
            Caps(
                max_members=99,
                max_total_bytes=2 * len(SLICES[0]) + 10,
                max_member_bytes=2**28,
                max_ratio=100,
            ),
            "too-large",
        ),
    ],
)
def test_caps_end_the_ingest_with_a_clear_reason(caps: Caps, code: str) -> None:
    events, store = run(build_zip([(f"s{i}.dcm", s) for i, s in enumerate(SLICES)]), caps=caps)
    assert isinstance(events[-1], IngestFailed)
    assert events[-1].error_code == code
    assert len(store.objects) == 2


class Unseekable(io.RawIOBase):
    """A write-only stream: zipfile then writes data descriptors, STORED members included."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.buffer += data
        return len(data)


def test_stored_members_with_data_descriptors_are_read_through_the_central_directory() -> None:
    sink = Unseekable()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED) as archive:
        for i, data in enumerate(SLICES):
            archive.writestr(f"s{i}.dcm", data)
    events, store = run(bytes(sink.buffer))
    assert isinstance(events[-1], IngestCompleted)
    assert events[-1].images == 4
    assert [e.member for e in events if isinstance(e, InstanceStored)] == [
        f"s{i}.dcm" for i in range(4)
    ]
    assert len(store.objects) == 4


def test_a_damaged_archive_fails_with_words_a_clinician_understands() -> None:
    data = build_zip([(f"s{i}.dcm", s) for i, s in enumerate(SLICES)])
    events, _ = run(data[: len(data) // 2])
    assert isinstance(events[-1], IngestFailed)
    assert events[-1].error_code == "not-an-archive"
    assert "export the study again" in events[-1].reason
