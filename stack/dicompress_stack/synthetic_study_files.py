"""The files of a synthetic study: the manifest that describes them, the DICOMDIR that indexes
them, and the JPEG encoding of a series (python-gdcm: pydicom 3 has no JPEG Lossless encoder)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import gdcm  # type: ignore[import-untyped]  # python-gdcm ships no type information
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomFileLike
from pydicom.fileset import FileSet, is_conformant_file_id
from pydicom.filewriter import dcmwrite
from pydicom.uid import UID

from dicompress_stack.synthetic_study_ct import Vector, along, seeded_uid, slice_normal

Role = Literal["ct-slice", "scout", "secondary-capture", "dicomdir", "sr", "not-dicom", "truncated"]


@dataclass(frozen=True)
class StudyFile:
    """One member of the study, as written."""

    path: str  # relative to the study's root, "/"-separated
    role: Role
    size: int
    sha256: str
    series_key: str | None  # "soft", "bone", ... (synthetic_study.SERIES_KEYS); None: no series
    series_uid: str | None
    sop_uid: str | None  # for the DICOMDIR, its Media Storage SOP Instance UID
    sop_class_uid: str | None
    transfer_syntax: str | None
    instance_number: int | None
    position: Vector | None  # ImagePositionPatient as written (mm)
    in_dicomdir: bool  # referenced by the DICOMDIR (conformant File IDs only: not UUID names)


@dataclass(frozen=True)
class SeriesManifest:
    """One series of the study and the order its instances must come out in."""

    key: str
    series_uid: str
    number: int
    description: str
    role: Role  # of its files: ct-slice, scout, secondary-capture or sr
    modality: str
    sop_class_uid: str
    transfer_syntax: str
    frame_of_reference_uid: str | None
    rows: int | None
    columns: int | None
    pixel_spacing: tuple[float, float] | None  # (between rows, between columns) mm
    orientation: tuple[float, ...] | None  # ImageOrientationPatient
    slice_thickness_mm: float | None
    slice_spacing_mm: float | None  # SpacingBetweenSlices
    # SOP Instance UIDs sorted by ImagePositionPatient . (row x column direction), ascending
    # (feet to head for an axial series); instance number order where there is no geometry
    anatomical_order: tuple[str, ...]


@dataclass(frozen=True)
class StudyManifest:
    """Everything written, for comparing an ingest's study index against."""

    study_uid: str
    patient_id: str
    patient_name: str
    accession_number: str
    files: tuple[StudyFile, ...]
    series: tuple[SeriesManifest, ...]  # every real series (the truncated copy's is not one)

    def files_with_role(self, role: Role) -> tuple[StudyFile, ...]:
        return tuple(f for f in self.files if f.role == role)

    def series_by_key(self, key: str) -> SeriesManifest:
        return next(s for s in self.series if s.key == key)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _floats(ds: Dataset, keyword: str) -> tuple[float, ...] | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    return tuple(float(v) for v in ([value] if isinstance(value, str | float | int) else value))


def _series_manifest(key: str, role: Role, ds: Dataset) -> SeriesManifest:
    spacing = _floats(ds, "PixelSpacing")
    thickness, between = _floats(ds, "SliceThickness"), _floats(ds, "SpacingBetweenSlices")
    position = _floats(ds, "ImagePositionPatient")
    return SeriesManifest(
        key=key,
        series_uid=str(ds.SeriesInstanceUID),
        number=int(ds.SeriesNumber),
        description=str(ds.SeriesDescription),
        role=role,
        modality=str(ds.Modality),
        sop_class_uid=str(ds.SOPClassUID),
        transfer_syntax=str(ds.file_meta.TransferSyntaxUID),
        frame_of_reference_uid=str(ds.FrameOfReferenceUID) if "FrameOfReferenceUID" in ds else None,
        rows=int(ds.Rows) if "Rows" in ds else None,
        columns=int(ds.Columns) if "Columns" in ds else None,
        pixel_spacing=(spacing[0], spacing[1]) if spacing else None,
        orientation=_floats(ds, "ImageOrientationPatient") if position else None,
        slice_thickness_mm=thickness[0] if thickness else None,
        slice_spacing_mm=between[0] if between else None,
        anatomical_order=(),
    )


# what pydicom's FileSet reads to build the PATIENT, STUDY, SERIES, IMAGE and SR DOCUMENT records
_DIRECTORY_KEYWORDS = (
    "SpecificCharacterSet", "SOPClassUID", "SOPInstanceUID", "PatientID", "PatientName",
    "StudyDate", "StudyTime", "StudyDescription", "StudyInstanceUID", "StudyID",
    "AccessionNumber", "Modality", "SeriesInstanceUID", "SeriesNumber", "InstanceNumber",
    "CompletionFlag", "VerificationFlag", "ContentDate", "ContentTime", "ConceptNameCodeSequence",
)  # fmt: skip


def _directory_header(ds: Dataset) -> Dataset:
    """The little a DICOMDIR record is made from: kept for every file until the DICOMDIR is
    written, so it stays small. pydicom would copy an SR's whole content tree into its record,
    where only the root's HAS CONCEPT MOD items belong (dciodvfy flags the rest)."""
    header = Dataset()
    header.file_meta = ds.file_meta
    for keyword in _DIRECTORY_KEYWORDS:
        if keyword in ds:
            header[keyword] = ds[keyword]
    if modifiers := [
        item for item in ds.get("ContentSequence", []) if item.RelationshipType == "HAS CONCEPT MOD"
    ]:
        header.ContentSequence = modifiers
    return header


class FileRecorder:
    """Collects a StudyFile per member, each series' header, and the DICOMDIR's entries."""

    def __init__(self) -> None:
        self.files: list[StudyFile] = []
        self._series: dict[str, SeriesManifest] = {}
        self._dicomdir: list[tuple[str, Dataset]] = []

    def add(
        self, path: str, role: Role, data: bytes, ds: Dataset | None, key: str | None
    ) -> tuple[str, bytes]:
        """Record one member (its dataset loses its pixels here) and pass it on."""
        position = _floats(ds, "ImagePositionPatient") if ds is not None else None
        listed = ds is not None and role != "truncated" and is_conformant_file_id(Path(path))
        self.files.append(
            StudyFile(
                path=path,
                role=role,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                series_key=key,
                series_uid=str(ds.SeriesInstanceUID) if ds is not None else None,
                sop_uid=str(ds.SOPInstanceUID) if ds is not None else None,
                sop_class_uid=str(ds.SOPClassUID) if ds is not None else None,
                transfer_syntax=str(ds.file_meta.TransferSyntaxUID) if ds is not None else None,
                instance_number=int(ds.InstanceNumber) if ds is not None else None,
                position=(position[0], position[1], position[2]) if position else None,
                in_dicomdir=listed,
            )
        )
        if ds is not None:
            if "PixelData" in ds:
                del ds.PixelData
            if key is not None and role != "truncated" and key not in self._series:
                self._series[key] = _series_manifest(key, role, ds)
            if listed:
                self._dicomdir.append((path, _directory_header(ds)))
        return path, data

    def dicomdir_entries(self) -> list[tuple[str, Dataset]]:
        return self._dicomdir

    def add_dicomdir(self, path: str, data: bytes, uid: str) -> tuple[str, bytes]:
        self.add(path, "dicomdir", data, None, None)
        self.files[-1] = dataclasses.replace(self.files[-1], sop_uid=uid)
        return path, data

    def manifest(self, study_uid: str, patient: tuple[str, str, str]) -> StudyManifest:
        series = []
        for key, header in self._series.items():
            members = [f for f in self.files if f.series_key == key and f.role == header.role]
            if header.orientation is not None:
                normal = slice_normal(header.orientation)
                members.sort(key=lambda f: along(cast(Vector, f.position), normal))
            else:
                members.sort(key=lambda f: cast(int, f.instance_number))
            order = tuple(cast(str, f.sop_uid) for f in members)
            series.append(dataclasses.replace(header, anatomical_order=order))
        return StudyManifest(study_uid, *patient, tuple(self.files), tuple(series))


def part10(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def dicomdir_bytes(seed: int, entries: list[tuple[str, Dataset]]) -> tuple[UID, bytes]:
    """A DICOMDIR whose records point at `entries` (File ID, pixel-less header) where they are.

    pydicom's FileSet builds the records; FileSet.write() would also copy every instance into
    its own PT000000/ST000000/... layout, so the DICOMDIR is encoded with its _write_dicomdir
    (private: re-check on a pydicom upgrade; the tests read the result with FileSet)."""
    file_set = FileSet()
    file_set.ID = "SYNTHETIC"
    file_set.UID = seeded_uid(seed, "file-set")
    for path, header in entries:
        instance = file_set.add(header)
        instance.node._record.ReferencedFileID = path.split("/")
    buffer = io.BytesIO()
    file_set._write_dicomdir(DicomFileLike(buffer))
    return file_set.UID, buffer.getvalue()


def encode_jpeg(ds: Dataset, syntax: UID) -> None:
    """Replace the native Pixel Data of a one-frame, one-sample image by GDCM's JPEG Lossless
    or JPEG-LS lossless encoding of it, in place."""
    writer = gdcm.ImageWriter()  # the image must come from a writer that stays in scope
    image = writer.GetImage()
    image.SetNumberOfDimensions(2)
    image.SetDimensions((int(ds.Columns), int(ds.Rows), 1))
    kind = gdcm.PhotometricInterpretation.GetPIType(str(ds.PhotometricInterpretation))
    image.SetPhotometricInterpretation(gdcm.PhotometricInterpretation(kind))
    image.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.ImplicitVRLittleEndian))
    bits = (int(ds.BitsAllocated), int(ds.BitsStored), int(ds.HighBit))
    pixel_format = gdcm.PixelFormat(1, *bits, int(ds.PixelRepresentation))
    image.SetPixelFormat(pixel_format)
    element = gdcm.DataElement(gdcm.Tag(0x7FE0, 0x0010))
    element.SetByteStringValue(bytes(ds.PixelData))
    image.SetDataElement(element)
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.GetTSType(str(syntax))))
    change.SetInput(image)
    if not change.Change():
        raise RuntimeError(f"GDCM could not encode {ds.SOPInstanceUID} as {syntax}")
    fragments = change.GetOutput().GetDataElement().GetSequenceOfFragments()
    frame = b"".join(
        fragments.GetFragment(i).GetByteValue().GetBuffer().encode("utf-8", "surrogateescape")
        for i in range(fragments.GetNumberOfFragments())
    )
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = syntax
