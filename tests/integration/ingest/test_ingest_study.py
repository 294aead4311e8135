"""A realistic synthetic study (two CT series, one with UUID names and JPEG Lossless, a scout,
secondary captures, a dose SR, a DICOMDIR, a non-DICOM file and a truncated DICOM) through the
ingest service on real Kafka and S3: every file is kept or rejected as it should be."""

from __future__ import annotations

import io

import pytest
from ingest_support import TENANT, ingest_events, upload

from dicompress_schemas import (
    IngestCompleted,
    InstanceKind,
    InstanceStored,
    MemberRejected,
)
from dicompress_stack.synthetic_study import StudySpec, write_study_zip
from dicompress_stack.testing import ServiceRunner

pytestmark = pytest.mark.integration

KEPT_AS = {
    "ct-slice": InstanceKind.IMAGE,
    "scout": InstanceKind.IMAGE,
    "secondary-capture": InstanceKind.IMAGE,
    "sr": InstanceKind.NON_IMAGE,
    "dicomdir": InstanceKind.NON_IMAGE,
}
REJECTED_AS = {"not-dicom": "not-dicom", "truncated": "truncated"}


async def test_every_file_of_a_scanner_export_is_kept_or_rejected_with_its_reason(
    test_env: dict[str, str], service_runner: ServiceRunner
) -> None:
    service_runner.start("ingest", {"INGEST_ALLOWED_BUCKETS": test_env["S3_BUCKET"]})
    spec = StudySpec(
        slices=12,
        size=64,
        scout_size=64,
        layout="pacs",
        uuid_names=("bone",),
        jpeg_lossless=("soft",),
        bad_members=True,
    )
    archive = io.BytesIO()
    manifest = write_study_zip(spec, archive)
    request = await upload(test_env, archive.getvalue())
    events = await ingest_events(test_env, request.ingest_id)
    by_member = {e.member: e for e in events if isinstance(e, InstanceStored | MemberRejected)}
    assert set(by_member) == {f.path for f in manifest.files}
    for file in manifest.files:
        event = by_member[file.path]
        if file.role in REJECTED_AS:
            assert isinstance(event, MemberRejected), file.path
            assert event.error_code == REJECTED_AS[file.role], file.path
            continue
        assert isinstance(event, InstanceStored), (file.path, event)
        assert event.kind is KEPT_AS[file.role], file.path
        if file.role == "dicomdir":
            assert event.key.startswith(f"{TENANT}/ingests/{request.ingest_id}/unfiled/")
            continue
        assert event.study_instance_uid == manifest.study_uid
        assert event.series_instance_uid == file.series_uid
        assert event.sop_instance_uid == file.sop_uid
        assert event.transfer_syntax_uid == file.transfer_syntax
        if file.position is not None:
            assert event.image is not None
            assert event.image.image_position == pytest.approx(file.position)
    done = events[-1]
    assert isinstance(done, IngestCompleted)
    assert done.study_instance_uids == (manifest.study_uid,)
    assert done.rejected == 2
