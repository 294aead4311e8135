"""The study generator's study (stack/dicompress_stack/synthetic_study.py: PACS folders, UUID
names, a JPEG Lossless series, a scout, captures, a dose SR, a DICOMDIR, a README and a
truncated copy) through the job runner with the real encoder: every series comes out in the
anatomical order the generator recorded (its own geometry, checked against highdicom), in its
own folder; documents and the colour dose screen are copied as they are; what cannot be
encoded fails alone with its reason."""

from __future__ import annotations

import io
import json
import zipfile

from compressor_fakes import MemoryStore, request, runner

from dicompress_compressor.encoder import EncodedSlice, EncodeOptions, encode_slice
from dicompress_schemas import EventBase, JobCompleted, SliceEncoded, SliceFailed
from dicompress_stack.synthetic_study import StudySpec, write_study_zip


class InlineEncoder:
    async def encode(self, data: bytes, options: EncodeOptions) -> EncodedSlice:
        return encode_slice(data, options)


async def test_the_synthetic_study_comes_out_series_by_series_in_anatomical_order() -> None:
    spec = StudySpec(
        seed=3, slices=6, size=64, scout_size=64, layout="pacs",
        uuid_names=("soft",), jpeg_lossless=("bone",), bad_members=True,
    )  # fmt: skip
    buffer = io.BytesIO()
    manifest = write_study_zip(spec, buffer)
    with zipfile.ZipFile(buffer) as archive:
        store = MemoryStore({f"study/{n}": archive.read(n) for n in archive.namelist()})
    sink: list[EventBase] = []

    terminal = await runner(store, InlineEncoder(), sink).run(  # type: ignore[arg-type]
        request(source_uri="s3://bucket/study/")
    )

    assert isinstance(terminal, JobCompleted)
    encoded = [e for e in sink if isinstance(e, SliceEncoded)]
    by_series: dict[str, list[str]] = {}
    for event in encoded:
        assert event.series_instance_uid is not None
        by_series.setdefault(event.series_instance_uid, []).append(event.source_sop_instance_uid)  # type: ignore[arg-type]
    for series in manifest.series:
        if series.role in ("ct-slice", "scout"):
            assert tuple(by_series[series.series_uid]) == series.anatomical_order, series.key
    numbers = [s.number for s in sorted(manifest.series, key=lambda s: s.number)]
    folders = [e.entry_name.split("/")[0] for e in encoded]
    assert [int(f.split("-")[0]) for f in dict.fromkeys(folders)] == [
        n for n in numbers if any(f.startswith(f"{n:03d}-") for f in folders)
    ]  # folders in SeriesNumber order, each series' slices together

    failed = {
        e.source_key.removeprefix("study/"): e.error_code
        for e in sink
        if isinstance(e, SliceFailed)
    }
    roles = {f.path: f.role for f in manifest.files}
    assert sorted(roles[path] for path in failed) == ["not-dicom", "truncated"]
    assert failed["README.txt"] == "not-dicom"
    zipped, _ = store.objects[terminal.artifact_uri.removeprefix("s3://bucket/")]
    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        names = archive.namelist()
        written = json.loads(archive.read("manifest.json"))
    documents = sorted(
        f"other/{f.path}"
        for f in manifest.files
        if f.role in ("sr", "dicomdir") or f.series_key == "screen"  # the RGB dose screen
    )
    assert sorted(n for n in names if n.startswith("other/")) == documents
    assert [o["source_key"] for o in written["other"]] == [
        f"study/{d.removeprefix('other/')}" for d in documents
    ]
    assert terminal.slices_failed == len(failed)
