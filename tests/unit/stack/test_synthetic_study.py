"""The synthetic study generator: deterministic, every role present, every object readable and
(where dciodvfy is installed) valid, and a manifest whose anatomical order an independent reader
(highdicom) agrees with."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.fileset import FileSet
from pydicom.pixels import pixel_array
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    JPEGLosslessSV1,
    JPEGLSLossless,
    MediaStorageDirectoryStorage,
    SecondaryCaptureImageStorage,
    XRayRadiationDoseSRStorage,
)

from dicompress_stack import synthetic_study
from dicompress_stack.synthetic_study import (
    StudyManifest,
    StudySpec,
    study_members,
    write_study,
    write_study_zip,
)

# everything at once: PACS folders, one series with UUID names, one JPEG Lossless, bad members
FULL = StudySpec(
    seed=3, layout="pacs", uuid_names=("soft",), jpeg_lossless=("bone",), bad_members=True
)
ALL_ROLES = {"ct-slice", "scout", "secondary-capture", "dicomdir", "sr", "not-dicom", "truncated"}
DCIODVFY = shutil.which("dciodvfy")


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, StudyManifest]:
    root = tmp_path_factory.mktemp("full")
    return root, write_study(FULL, root)


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_the_same_spec_gives_the_same_bytes_and_uids(tmp_path: Path) -> None:
    spec = StudySpec(seed=5, jpeg_lossless=("soft",), bad_members=True, slices=6, size=32)
    first, again = write_study(spec, tmp_path / "a"), write_study(spec, tmp_path / "b")
    assert files_under(tmp_path / "a") == files_under(tmp_path / "b")
    assert first == again
    zips = []
    for _ in range(2):
        buffer = io.BytesIO()
        write_study_zip(spec, buffer)
        zips.append(buffer.getvalue())
    assert zips[0] == zips[1]
    other = write_study(StudySpec(seed=6, slices=6, size=32), tmp_path / "c")
    assert other.study_uid != first.study_uid
    assert not {f.sop_uid for f in other.files} & {f.sop_uid for f in first.files}


def test_every_role_is_present_once_per_object(full: tuple[Path, StudyManifest]) -> None:
    root, manifest = full
    assert {f.role for f in manifest.files} == ALL_ROLES
    assert len(manifest.files_with_role("secondary-capture")) == 2
    assert len(manifest.files_with_role("scout")) == 1
    assert [f.path for f in manifest.files_with_role("dicomdir")] == ["DICOMDIR"]
    assert files_under(root).keys() == {f.path for f in manifest.files}
    sops = [f.sop_uid for f in manifest.files if f.sop_uid]
    assert len(sops) == len(set(sops))
    assert {s.key: len(s.anatomical_order) for s in manifest.series} == {
        "scout": 1,
        "soft": 20,
        "bone": 10,
        "coronal": 1,
        "screen": 1,
        "dose": 1,
    }


def test_every_dicom_object_reads_and_its_pixels_decode(full: tuple[Path, StudyManifest]) -> None:
    root, manifest = full
    classes = {
        "ct-slice": CTImageStorage,
        "scout": CTImageStorage,
        "secondary-capture": SecondaryCaptureImageStorage,
        "sr": XRayRadiationDoseSRStorage,
        "dicomdir": MediaStorageDirectoryStorage,
    }
    for entry in manifest.files:
        path = root / entry.path
        if entry.role == "not-dicom":
            with pytest.raises(InvalidDicomError):
                dcmread(path)
            continue
        ds = dcmread(path)
        assert ds.file_meta.MediaStorageSOPClassUID == classes.get(entry.role, CTImageStorage)
        if entry.role == "truncated":  # the header reads; the pixels are cut short
            with pytest.raises(ValueError, match=r"less than expected|reshape|multiple"):
                pixel_array(path)
        elif entry.role in ("sr", "dicomdir"):
            assert "PixelData" not in ds
        else:
            assert ds.StudyInstanceUID == manifest.study_uid
            assert ds.PatientID == manifest.patient_id
            # python-gdcm by name: pydicom has no other JPEG Lossless decoder installed here
            plugin = "gdcm" if ds.file_meta.TransferSyntaxUID.is_compressed else ""
            pixels = pixel_array(path, decoding_plugin=plugin)
            assert pixels.shape[:2] == (ds.Rows, ds.Columns)
            assert entry.transfer_syntax == ds.file_meta.TransferSyntaxUID
            assert entry.sop_uid == ds.SOPInstanceUID


@pytest.mark.parametrize("syntax", [JPEGLosslessSV1, JPEGLSLossless], ids=["jpeg-ll", "jpeg-ls"])
def test_a_jpeg_series_decodes_to_the_native_pixels(tmp_path: Path, syntax: str) -> None:
    spec = StudySpec(seed=2, slices=4, size=64)
    jpeg = StudySpec(seed=2, slices=4, size=64, **{_option(syntax): ("soft", "scout")})
    native, encoded = write_study(spec, tmp_path / "n"), write_study(jpeg, tmp_path / "j")
    pairs = [
        (a, b)
        for a, b in zip(native.files, encoded.files, strict=True)
        if a.series_key in ("soft", "scout")
    ]
    assert len(pairs) == 5
    for a, b in pairs:
        assert (a.sop_uid, a.transfer_syntax, b.transfer_syntax) == (
            b.sop_uid,
            ExplicitVRLittleEndian,
            syntax,
        )
        assert b.size < a.size
        decoded = pixel_array(tmp_path / "j" / b.path, decoding_plugin="gdcm")
        assert np.array_equal(decoded, pixel_array(tmp_path / "n" / a.path))


def _option(syntax: str) -> str:
    return "jpeg_lossless" if syntax == JPEGLosslessSV1 else "jpeg_ls"


def _normal(orientation: tuple[float, ...]) -> np.ndarray:
    return np.cross(np.array(orientation[:3]), np.array(orientation[3:]))


@pytest.mark.parametrize("key", ["soft", "bone"])
def test_anatomical_order_matches_highdicom(full: tuple[Path, StudyManifest], key: str) -> None:
    root, manifest = full
    series = manifest.series_by_key(key)
    entries = {f.sop_uid: f for f in manifest.files if f.series_key == key}
    positions = np.array([entries[uid].position for uid in series.anatomical_order])
    assert series.orientation is not None
    along = positions @ _normal(series.orientation)
    assert np.all(np.diff(along) > 0)  # ascending along row x column: feet to head

    datasets = [dcmread(root / f.path) for f in entries.values()]
    for ds in datasets:  # the manifest says what the files say
        assert entries[ds.SOPInstanceUID].position == tuple(map(float, ds.ImagePositionPatient))
    volume = hd.get_volume_from_series(datasets)
    # highdicom picks its own handedness, so slice 0 may be either end: compare positions
    origin, step = volume.affine[:3, 3], volume.affine[:3, 0]
    theirs = np.array([origin + i * step for i in range(volume.spatial_shape[0])])
    if theirs[0] @ _normal(series.orientation) > theirs[-1] @ _normal(series.orientation):
        theirs = theirs[::-1]
    np.testing.assert_allclose(theirs, positions, atol=1e-4)
    assert volume.spacing_between_slices == pytest.approx(series.slice_spacing_mm)
    assert volume.pixel_spacing == pytest.approx(series.pixel_spacing)
    assert volume.frame_of_reference_uid == series.frame_of_reference_uid


def test_neither_file_names_nor_instance_numbers_give_the_anatomical_order(
    full: tuple[Path, StudyManifest],
) -> None:
    _, manifest = full

    def natural(path: str) -> list[object]:
        return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]

    by_number = {}
    for key in ("soft", "bone"):
        order = manifest.series_by_key(key).anatomical_order
        entries = [f for f in manifest.files if f.series_key == key]
        assert [f.sop_uid for f in sorted(entries, key=lambda f: f.path)] != list(order)
        by_number[key] = [f.sop_uid for f in sorted(entries, key=lambda f: f.instance_number or 0)]
        if key == "bone":  # its names are I1..I10, shuffled: not even a natural sort helps
            assert [f.sop_uid for f in sorted(entries, key=lambda f: natural(f.path))] != list(
                order
            )
    # soft is numbered head first, bone from the feet: InstanceNumber order disagrees between them
    assert by_number["soft"] == list(manifest.series_by_key("soft").anatomical_order[::-1])
    assert by_number["bone"] == list(manifest.series_by_key("bone").anatomical_order)


def test_series_have_their_own_geometry(full: tuple[Path, StudyManifest]) -> None:
    _, manifest = full
    soft, bone, scout = (manifest.series_by_key(k) for k in ("soft", "bone", "scout"))
    assert soft.pixel_spacing != bone.pixel_spacing
    assert (soft.slice_spacing_mm, bone.slice_spacing_mm) == (1.25, 2.5)
    assert soft.slice_thickness_mm != bone.slice_thickness_mm
    assert (
        soft.frame_of_reference_uid == bone.frame_of_reference_uid != scout.frame_of_reference_uid
    )
    first = {k: next(f for f in manifest.files if f.series_key == k) for k in ("soft", "bone")}
    assert first["soft"].position is not None
    assert first["bone"].position is not None
    assert first["soft"].position[:2] != first["bone"].position[:2]  # another recon centre
    assert scout.orientation == (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
    assert len({s.series_uid for s in manifest.series}) == len(manifest.series)
    assert re.fullmatch(r"[0-9a-f-]{36}\.dcm", first["soft"].path.split("/")[-1])
    assert not first["soft"].in_dicomdir


def test_the_dicomdir_lists_every_conformantly_named_object(
    full: tuple[Path, StudyManifest],
) -> None:
    root, manifest = full
    file_set = FileSet(dcmread(root / "DICOMDIR"))
    listed = {f.sop_uid: f.path for f in manifest.files if f.in_dicomdir}
    assert {i.SOPInstanceUID: Path(i.path).relative_to(root).as_posix() for i in file_set} == listed
    assert {f.series_key for f in manifest.files if f.in_dicomdir} == {
        "scout",
        "bone",
        "coronal",
        "screen",
        "dose",
    }
    for instance in file_set:
        assert instance.load().SOPInstanceUID == instance.SOPInstanceUID
    assert manifest.files_with_role("dicomdir")[0].sop_uid == file_set.UID


def test_the_zip_holds_the_folders_files(tmp_path: Path) -> None:
    spec = StudySpec(seed=4, slices=5, size=32, layout="pacs", bad_members=True)
    folder = write_study(spec, tmp_path / "study")
    buffer = io.BytesIO()
    assert write_study_zip(spec, buffer) == folder
    with zipfile.ZipFile(buffer) as zf:
        assert {i.filename: zf.read(i) for i in zf.infolist()} == files_under(tmp_path / "study")
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_DEFLATED}
    assert dict(study_members(spec)) == files_under(tmp_path / "study")


class _Sink(io.RawIOBase):
    """An unseekable output (a socket, an upload) that keeps nothing but a count."""

    def __init__(self, rendered: list[int]) -> None:
        self.rendered = rendered
        self.writes: list[tuple[int, int]] = []  # (bytes so far, slices rendered so far)
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]  # bytes only, on purpose
        self.size += len(data)
        self.writes.append((self.size, len(self.rendered)))
        return len(data)


def test_the_zip_streams_while_the_slices_are_made(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bytes reach the output as each member is made, not after the whole study is: the
    generator keeps one member (and a small header per file, for the DICOMDIR) at a time."""
    rendered: list[int] = []
    original = synthetic_study.axial_slice

    def counting(*args: Any) -> Dataset:
        rendered.append(1)
        return original(*args)

    monkeypatch.setattr(synthetic_study, "axial_slice", counting)
    sink = _Sink(rendered)
    manifest = write_study_zip(StudySpec(seed=1, slices=40, size=64), sink)
    total = len(manifest.files_with_role("ct-slice"))
    assert len(rendered) == total == 40 + 20
    half = next(count for size, count in sink.writes if size >= sink.size / 2)
    assert half < total * 0.75  # half the ZIP was out before three quarters of the slices existed


def test_dciodvfy_finds_no_error_in_any_object(full: tuple[Path, StudyManifest]) -> None:
    """Every CT slice (the JPEG Lossless bone series too), the scout, both captures, the SR
    and the DICOMDIR: no Error line (warnings, such as our private tags, are fine)."""
    if DCIODVFY is None:
        pytest.fail(
            "dciodvfy is not installed: `make system-tools` as root, or apt-get install dicom3tools"
        )
    root, manifest = full
    assert DCIODVFY is not None
    findings = {}
    for entry in manifest.files:
        if entry.role in ("not-dicom", "truncated"):
            continue
        run = subprocess.run(
            [DCIODVFY, str(root / entry.path)], capture_output=True, text=True, timeout=60
        )
        lines = (run.stdout + run.stderr).splitlines()
        findings[entry.path] = [line for line in lines if "Error" in line]
    assert len(findings) == len(manifest.files) - 2
    assert {path: errors for path, errors in findings.items() if errors} == {}


@pytest.mark.parametrize(
    "changes",
    [{"uuid_names": ("nope",)}, {"jpeg_lossless": ("screen",)}, {"slices": 1}, {"size": 8}],
)
def test_a_bad_spec_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="StudySpec"):
        StudySpec(**changes)  # type: ignore[arg-type]


def test_the_realistic_spec_is_the_demos_size() -> None:
    spec = StudySpec.realistic(seed=9, layout="pacs")
    assert (spec.seed, spec.slices, spec.size, spec.layout) == (9, 399, 512, "pacs")


def test_the_default_layout_is_flat_with_numbered_names(tmp_path: Path) -> None:
    manifest = write_study(StudySpec(slices=4, size=32), tmp_path)
    paths = [f.path for f in manifest.files]
    assert paths[:3] == ["IM1", "IM2", "IM3"]
    assert paths[-1] == "DICOMDIR"
    assert all("/" not in path for path in paths)
    assert {f.role for f in manifest.files} == ALL_ROLES - {"not-dicom", "truncated"}
    file_set = FileSet(dcmread(tmp_path / "DICOMDIR"))
    assert len(file_set) == len(manifest.files) - 1
