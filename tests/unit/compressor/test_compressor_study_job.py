"""A whole study under one prefix, through the job runner with the real encoder: slices indexed
in anatomical order series by series, one ZIP folder per series, non-image objects copied (or
left out) and never failed, the manifest giving series and positions, and a re-run that gets
the same indexes."""

from __future__ import annotations

import io
import json
import random
import zipfile
from typing import Any

import pytest
from compressor_fakes import MemoryStore, request, runner
from compressor_study import dicomdir, series, structured_report, uuid_name
from compressor_transcode import transcode
from pydicom import dcmread
from pydicom.uid import JPEGLosslessSV1

from dicompress_compressor.encoder import EncodedSlice, EncodeOptions, encode_slice
from dicompress_schemas import EventBase, JobCompleted, JobStarted, SliceEncoded, SliceFailed


class InlineEncoder:
    """The real encoder, called directly: the pool only moves it to other processes."""

    async def encode(self, data: bytes, options: EncodeOptions) -> EncodedSlice:
        return encode_slice(data, options)


AXIAL = series(5, seed=21, number=3, description="Axial 1.25 mm")
BONE = [transcode(s, JPEGLosslessSV1) for s in series(3, seed=22, number=2, description="Bone")]


def study() -> dict[str, bytes]:
    """Series 3 with UUID names in scrambled order, series 2 JPEG Lossless with IM names, a
    DICOMDIR, a dose SR, and a file that is not DICOM."""
    objects: dict[str, bytes] = {}
    order = list(range(len(AXIAL)))
    random.Random(4).shuffle(order)  # noqa: S311 - a fixed test order
    for i in order:
        objects[f"study/{uuid_name(f'axial-{i}')}"] = AXIAL[i]
    for i, data in enumerate(BONE):
        objects[f"study/bone/IM{i + 1}.dcm"] = data
    objects["study/DICOMDIR"] = dicomdir()
    objects["study/reports/dose.dcm"] = structured_report()
    objects["study/readme.txt"] = b"exported by a PACS"
    return objects


async def _run(store: MemoryStore, **overrides: Any) -> tuple[list[EventBase], dict[str, Any]]:
    sink: list[EventBase] = []
    req = request(source_uri="s3://bucket/study/", **overrides)
    terminal = await runner(store, InlineEncoder(), sink).run(req)  # type: ignore[arg-type]
    assert isinstance(terminal, JobCompleted), terminal
    zipped, _ = store.objects[terminal.artifact_uri.removeprefix("s3://bucket/")]
    archive = zipfile.ZipFile(io.BytesIO(zipped))
    return sink, {
        "names": archive.namelist(),
        "manifest": json.loads(archive.read("manifest.json")),
        "archive": archive,
        "request": req,
    }


def _z(data: bytes) -> float:
    return float(dcmread(io.BytesIO(data), stop_before_pixels=True).ImagePositionPatient[2])


async def test_a_study_is_indexed_series_by_series_in_anatomical_order() -> None:
    store = MemoryStore(study())
    sink, out = await _run(store)

    started = sink[0]
    assert isinstance(started, JobStarted)
    assert started.total_slices == 3 + 5 + 1  # images and the file that is not DICOM
    slices = [e for e in sink if isinstance(e, SliceEncoded)]
    assert [e.slice_index for e in slices] == list(range(8))
    bone_uid = dcmread(io.BytesIO(BONE[0])).SeriesInstanceUID
    axial_uid = dcmread(io.BytesIO(AXIAL[0])).SeriesInstanceUID
    assert [e.series_instance_uid for e in slices] == [bone_uid] * 3 + [axial_uid] * 5
    for group in (slices[:3], slices[3:]):  # ascending along the normal (z), feet to head
        distances = [e.position_along_normal for e in group]
        assert distances == sorted(distances)  # type: ignore[type-var]
        assert all(
            e.position is not None and e.position[2] == e.position_along_normal for e in group
        )
    assert [e.source_key for e in slices[:3]] == [f"study/bone/IM{i}.dcm" for i in (3, 2, 1)]
    failed = [e for e in sink if isinstance(e, SliceFailed)]
    assert [(e.slice_index, e.source_key, e.error_code) for e in failed] == [
        (8, "study/readme.txt", "not-dicom")
    ]
    completed = sink[-1]
    assert isinstance(completed, JobCompleted)
    assert (completed.slices_encoded, completed.slices_failed) == (8, 1)
    assert completed.seq == 2 + 9

    names = out["names"]
    assert names == [f"002-Bone/{i:05d}.dcm" for i in range(3)] + [
        f"003-Axial_1.25_mm/{i:05d}.dcm" for i in range(3, 8)
    ] + ["other/DICOMDIR", "other/reports/dose.dcm", "manifest.json"]
    archive = out["archive"]
    assert archive.read("other/DICOMDIR") == store.objects["study/DICOMDIR"][0]  # as it was
    zs = [_z(archive.read(n)) for n in names[3:8]]
    assert zs == sorted(zs)
    assert [e.entry_name for e in slices] == names[:8]

    manifest = out["manifest"]
    assert [s["folder"] for s in manifest["series"]] == ["002-Bone", "003-Axial_1.25_mm"]
    axial = manifest["series"][1]
    assert (axial["series_instance_uid"], axial["slices"], axial["positioned"]) == (axial_uid, 5, 5)
    assert axial["spacing"] == {"mean": 1.25, "min": 1.25, "max": 1.25, "uniform": True}
    assert axial["gantry_tilt_deg"] == 0.0
    first = manifest["slices"][3]
    assert first["series_instance_uid"] == axial_uid
    assert first["position"][2] == first["position_along_normal"] == -5.0
    assert first["source_sop_instance_uid"] == dcmread(io.BytesIO(AXIAL[4])).SOPInstanceUID
    assert manifest["slices_total"] == 9
    assert [(o["source_key"], o["entry_name"], o["left_out"]) for o in manifest["other"]] == [
        ("study/DICOMDIR", "other/DICOMDIR", None),
        ("study/reports/dose.dcm", "other/reports/dose.dcm", None),
    ]


async def test_a_rerun_gets_the_same_indexes_and_reuses_every_slice() -> None:
    store = MemoryStore(study())
    first, out = await _run(store)
    again: list[EventBase] = []
    terminal = await runner(store, InlineEncoder(), again).run(out["request"])

    assert isinstance(terminal, JobCompleted)
    assert terminal.attempt == 2
    key = lambda e: (e.seq, getattr(e, "source_key", None), getattr(e, "entry_name", None))  # noqa: E731
    assert [key(e) for e in again] == [key(e) for e in first]
    assert [e.sop_instance_uid for e in again if isinstance(e, SliceEncoded)] == [
        e.sop_instance_uid for e in first if isinstance(e, SliceEncoded)
    ]


@pytest.mark.parametrize(
    ("overrides", "left_out"),
    [
        ({"include_non_image": False}, "include_non_image=false"),
        ({"anonymize": True}, "de-identif"),
    ],
)
async def test_non_image_objects_can_be_left_out(overrides: dict[str, Any], left_out: str) -> None:
    store = MemoryStore(study())
    sink, out = await _run(store, **overrides)

    assert not [n for n in out["names"] if n.startswith("other/")]
    others = out["manifest"]["other"]
    assert [o["source_key"] for o in others] == ["study/DICOMDIR", "study/reports/dose.dcm"]
    assert all(left_out in o["left_out"] and o["entry_name"] is None for o in others)
    completed = sink[-1]
    assert isinstance(completed, JobCompleted)
    assert completed.slices_failed == 1  # the text file only


async def test_an_anonymized_job_reports_the_series_uid_its_files_carry() -> None:
    store = MemoryStore(study())
    sink, out = await _run(store, anonymize=True)

    slices = [e for e in sink if isinstance(e, SliceEncoded)]
    originals = {dcmread(io.BytesIO(d)).SeriesInstanceUID for d in (*AXIAL, *BONE)}
    for event in slices:
        written = dcmread(io.BytesIO(out["archive"].read(event.entry_name)))
        assert event.series_instance_uid == written.SeriesInstanceUID
        assert event.series_instance_uid not in originals
    manifest_uids = {s["series_instance_uid"] for s in out["manifest"]["series"]}
    assert manifest_uids == {e.series_instance_uid for e in slices}
    assert all(o["sop_class_uid"] is None for o in out["manifest"]["other"])


async def test_only_documents_under_the_prefix_is_a_clear_failure() -> None:
    store = MemoryStore({"study/DICOMDIR": dicomdir(), "study/sr.dcm": structured_report()})
    sink: list[EventBase] = []
    terminal = await runner(store, InlineEncoder(), sink).run(  # type: ignore[arg-type]
        request(source_uri="s3://bucket/study/")
    )
    assert terminal.type == "JobFailed"
    assert terminal.error_code == "source-empty"  # type: ignore[union-attr]
    assert "no image slices" in terminal.reason  # type: ignore[union-attr]
    assert "2 objects without pixel data" in terminal.reason  # type: ignore[union-attr]
    assert isinstance(sink[0], JobStarted)
    assert sink[0].total_slices == 0


async def test_a_header_s3_will_not_serve_fails_the_job_before_it_starts() -> None:
    store = MemoryStore(study())
    store.fail_gets["study/bone/IM2.dcm"] = ConnectionError("S3 went away")
    sink: list[EventBase] = []
    terminal = await runner(store, InlineEncoder(), sink).run(  # type: ignore[arg-type]
        request(source_uri="s3://bucket/study/")
    )
    assert [e.type for e in sink] == ["JobFailed"]
    assert terminal.seq == 1
    assert terminal.error_code == "source-unreadable"  # type: ignore[union-attr]
    assert "request the job again" in terminal.reason  # type: ignore[union-attr]
