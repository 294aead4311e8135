"""What one member is: an image, another DICOM object, or not DICOM at all, read from its
header. Pixels are never decoded here (any transfer syntax is fine: the compressor decodes)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import IO, Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import generate_fragments
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import UID

from dicompress_schemas import ImageHeader, InstanceKind

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
_TEXT_MAX = 256


@dataclass(frozen=True)
class Rejection:
    """Why a member is not kept, for the clinician (`reason`) and for support (`detail`)."""

    error_code: str
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class Inspected:
    """The InstanceStored fields a member's header gives (all but key, bytes, sha256)."""

    fields: dict[str, Any]

    @property
    def kind(self) -> InstanceKind:
        return InstanceKind(self.fields["kind"])

    @property
    def study_uid(self) -> str | None:
        uid: str | None = self.fields["study_instance_uid"]
        return uid


def inspect(fp: IO[bytes]) -> Inspected | Rejection:
    """Read one member's DICOM header (and check its pixel data is all there)."""
    try:
        ds = _read(fp)
    except InvalidDicomError as exc:
        return Rejection("not-dicom", "this file is not a DICOM object: it was left out", str(exc))
    except Exception as exc:  # pydicom raises many types on damaged input; all mean the same
        return Rejection(
            "truncated",
            "this DICOM file is damaged or cut short: it was left out; export it again",
            f"{type(exc).__name__}: {exc}",
        )
    uids = _uids(ds)
    if isinstance(uids, Rejection):
        return uids
    if "PixelData" not in ds and _looks_like_image(ds):
        return _cut_short("the image has no pixel data")
    image = None
    if "PixelData" in ds:
        shortfall = _pixel_shortfall(ds)
        if shortfall:
            return _cut_short(shortfall)
        image = _image_header(ds)
    return Inspected(
        {
            "kind": (InstanceKind.IMAGE if image is not None else InstanceKind.NON_IMAGE).value,
            **uids,
            "modality": _text(ds, "Modality"),
            "series_number": _int(ds.get("SeriesNumber")),
            "series_description": _text(ds, "SeriesDescription"),
            "patient_name": _text(ds, "PatientName"),
            "patient_id": _text(ds, "PatientID"),
            "study_date": _text(ds, "StudyDate"),
            "study_description": _text(ds, "StudyDescription"),
            "accession_number": _text(ds, "AccessionNumber"),
            "frame_of_reference_uid": _uid_or_none(ds.get("FrameOfReferenceUID")),
            "image": None if image is None else image.model_dump(mode="json"),
        }
    )


def _read(fp: IO[bytes]) -> Dataset:
    """The dataset; files without the preamble (old exports) are accepted only if they name
    their SOP class and instance, so a random file is not taken for DICOM."""
    try:
        return dcmread(fp)
    except InvalidDicomError:
        fp.seek(0)
        ds = dcmread(fp, force=True)
        if "SOPClassUID" not in ds or "SOPInstanceUID" not in ds:
            raise
        return ds


def _uids(ds: Dataset) -> dict[str, Any] | Rejection:
    meta = getattr(ds, "file_meta", Dataset())
    sop_class = ds.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID")
    sop_instance = ds.get("SOPInstanceUID") or meta.get("MediaStorageSOPInstanceUID")
    syntax = meta.get("TransferSyntaxUID") or "1.2.840.10008.1.2"
    study, series = ds.get("StudyInstanceUID"), ds.get("SeriesInstanceUID")
    for name, value in (
        ("SOP Class UID", sop_class),
        ("SOP Instance UID", sop_instance),
        ("Transfer Syntax UID", syntax),
        ("Study Instance UID", study),
        ("Series Instance UID", series),
    ):
        optional = name.startswith(("Study", "Series")) and str(sop_class) == DICOMDIR_CLASS
        if value is None and optional:
            continue
        if value is None or not _UID.match(str(value)) or len(str(value)) > 64:
            return Rejection(
                "invalid-uid",
                f"this DICOM file has a missing or malformed {name}: it was left out",
                f"{name} = {value!r}",
            )
    return {
        "sop_class_uid": str(sop_class),
        "sop_instance_uid": str(sop_instance),
        "transfer_syntax_uid": str(syntax),
        "study_instance_uid": None if study is None else str(study),
        "series_instance_uid": None if series is None else str(series),
    }


def _looks_like_image(ds: Dataset) -> bool:
    return "Rows" in ds and "Columns" in ds and "BitsAllocated" in ds


def _cut_short(detail: str) -> Rejection:
    return Rejection(
        "truncated", "this DICOM image is cut short: it was left out; export it again", detail
    )


def _pixel_shortfall(ds: Dataset) -> str | None:
    """Why the pixel data is incomplete, or None. pydicom reads a truncated file without
    complaint, giving a shorter value: we compare with what the header promises."""
    value = ds.PixelData
    syntax = UID(str(ds.file_meta.get("TransferSyntaxUID", "1.2.840.10008.1.2")))
    if syntax.is_encapsulated:
        try:
            fragments = sum(1 for _ in generate_fragments(value))
        except (ValueError, EOFError) as exc:
            return f"encapsulated pixel data is broken: {exc}"
        frames = _int(ds.get("NumberOfFrames")) or 1
        return None if fragments >= frames else f"{fragments} fragments for {frames} frames"
    expected = (
        int(ds.Rows)
        * int(ds.Columns)
        * (_int(ds.get("NumberOfFrames")) or 1)
        * int(ds.get("SamplesPerPixel", 1))
        * int(ds.BitsAllocated)
        + 7
    ) // 8
    return None if len(value) >= expected else f"{len(value)} pixel bytes of {expected}"


def _image_header(ds: Dataset) -> ImageHeader:
    return ImageHeader(
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        number_of_frames=_int(ds.get("NumberOfFrames")) or 1,
        pixel_spacing=_floats(ds.get("PixelSpacing"), 2),
        image_orientation=_floats(ds.get("ImageOrientationPatient"), 6),
        image_position=_floats(ds.get("ImagePositionPatient"), 3),
        slice_thickness=_float(ds.get("SliceThickness")),
        slice_location=_float(ds.get("SliceLocation")),
        instance_number=_int(ds.get("InstanceNumber")),
        image_type=tuple(str(v) for v in _values(ds.get("ImageType"))),
        bits_allocated=int(ds.BitsAllocated),
        bits_stored=int(ds.get("BitsStored") or ds.BitsAllocated),
        pixel_representation=int(ds.get("PixelRepresentation") or 0),
        samples_per_pixel=int(ds.get("SamplesPerPixel") or 1),
        photometric_interpretation=str(ds.get("PhotometricInterpretation") or "MONOCHROME2"),
        rescale_slope=_float(ds.get("RescaleSlope")),
        rescale_intercept=_float(ds.get("RescaleIntercept")),
        window_center=tuple(_all_floats(ds.get("WindowCenter"))),
        window_width=tuple(_all_floats(ds.get("WindowWidth"))),
    )


def _values(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, MultiValue | list | tuple) else [value]


def _all_floats(value: Any) -> list[float]:
    out = []
    for item in _values(value):
        number = _float(item)
        if number is not None:
            out.append(number)
    return out


def _floats(value: Any, count: int) -> tuple[float, ...] | None:
    numbers = _all_floats(value)
    return tuple(numbers) if len(numbers) == count else None


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _text(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None or str(value) == "":
        return None
    return str(value)[:_TEXT_MAX]


def _uid_or_none(value: Any) -> str | None:
    text = None if value is None else str(value)
    return text if text and _UID.match(text) and len(text) <= 64 else None
