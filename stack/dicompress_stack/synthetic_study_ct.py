"""The CT objects of a synthetic study: axial series with their own geometry, and a scout.

Every axial series shows the same phantom (synthetic_ct.render_at) in one patient coordinate
system (LPS, mm): the soft-tissue series' first slice is at z = 0 and the body goes down to
z = -length. A series with a smaller field of view or another reconstruction centre is a crop of
a larger render, so the anatomy sits where ImagePositionPatient says it does. The scout is an AP
projection of the same phantom, stored as a coronal image with its own frame of reference.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian

from dicompress_stack.synthetic_ct import (
    FIELD_OF_VIEW_MM,
    PRIVATE_CREATOR,
    PRIVATE_GROUP,
    render_at,
)

_NAMESPACE = uuid.UUID("5d0f6a86-1d0e-4c52-9f55-2f1c3b7c1e01")  # ours, fixed forever
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)  # rows run to the patient's left, columns to the feet
Vector = tuple[float, float, float]


def seeded_uid(seed: int, what: str) -> UID:
    """A 2.25 UID (a UUID as an integer) derived from the seed: the same study, the same UIDs.
    (pydicom's generate_uid(prefix=None) ignores entropy_srcs and is random.)"""
    return UID(f"2.25.{uuid.uuid5(_NAMESPACE, f'{seed}/{what}').int}")


def seeded_uuid(seed: int, what: str) -> str:
    """A random-looking but seeded UUID, for file names."""
    return str(uuid.uuid5(_NAMESPACE, f"name/{seed}/{what}"))


def ds_text(value: float) -> str:
    """A Decimal String of at most 16 characters that reads back as `value` where it can."""
    for digits in (12, 10, 8, 6):
        text = f"{value:.{digits}g}"
        if len(text) <= 16:
            return text
    raise ValueError(f"{value} does not fit a DS")


@dataclass(frozen=True)
class SeriesIds:
    """Who a series is: its key in the spec and manifest, number, description and UID."""

    key: str
    number: int
    description: str
    uid: UID


@dataclass(frozen=True)
class StudyContext:
    """What every object of the study shares: patient, study, dates."""

    seed: int
    study_uid: UID
    patient_name: str
    patient_id: str
    accession: str

    @classmethod
    def of(cls, seed: int) -> StudyContext:
        return cls(
            seed=seed,
            study_uid=seeded_uid(seed, "study"),
            patient_name=f"SYNTHETIC^STUDY{seed}",
            patient_id=f"SYNST-{seed:04d}",
            accession=f"SYS{seed:06d}",
        )


def base_dataset(
    ctx: StudyContext, sop_class: UID, sop_uid: UID, series: SeriesIds, modality: str, number: int
) -> Dataset:
    """Patient, General Study, General Series, General Equipment and SOP Common attributes."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20240115"
    ds.StudyTime = "093000"
    ds.SeriesTime = ds.ContentTime = f"09{30 + series.number % 30:02d}00"
    ds.AccessionNumber = ctx.accession
    ds.Modality = modality
    ds.Manufacturer = "dicompress synthetic"
    ds.InstitutionName = "Synthetic Hospital"
    ds.ReferringPhysicianName = "REFERRER^SYNTHETIC"
    ds.StationName = "SYNTH01"
    ds.StudyDescription = "Synthetic chest-abdomen CT study"
    ds.SeriesDescription = series.description
    ds.ManufacturerModelName = "Phantom 1"
    ds.PatientName = ctx.patient_name
    ds.PatientID = ctx.patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.DeviceSerialNumber = "0001"
    ds.SoftwareVersions = "1.0"
    ds.StudyInstanceUID = ctx.study_uid
    ds.SeriesInstanceUID = series.uid
    ds.StudyID = "1"
    ds.SeriesNumber = series.number
    ds.InstanceNumber = number
    return ds


@dataclass(frozen=True)
class AxialSeries:
    """Geometry and naming of one axial CT series."""

    ids: SeriesIds
    frame_of_reference: UID
    slices: int
    size: int  # rows = columns
    spacing_mm: float  # between slice centres
    thickness_mm: float
    fov_mm: float  # requested; the real one is size * pixel_mm
    centre_mm: tuple[float, float]  # reconstruction centre (x, y): where the table puts the body
    first_z_mm: float  # z of the most superior slice
    body_length_mm: float  # the phantom's head-to-pelvis length (the soft series' extent)
    kernel: str
    numbered_from_feet: bool  # InstanceNumber 1 is the most inferior slice

    @property
    def render_size(self) -> int:
        """The full 360 mm render the series is cropped from."""
        return max(self.size, round(self.size * FIELD_OF_VIEW_MM / self.fov_mm))

    @property
    def pixel_mm(self) -> float:
        return FIELD_OF_VIEW_MM / self.render_size

    def crop_origin(self) -> tuple[int, int]:
        """(row, column) of the crop in the full render: centred, then moved to the centre."""
        margin = (self.render_size - self.size) // 2
        row = margin + round(self.centre_mm[1] / self.pixel_mm)
        col = margin + round(self.centre_mm[0] / self.pixel_mm)
        limit = self.render_size - self.size
        return min(max(row, 0), limit), min(max(col, 0), limit)

    def position(self, index: int) -> Vector:
        """ImagePositionPatient of slice `index` (0 = most superior), as written in the file."""
        row, col = self.crop_origin()
        corner = -FIELD_OF_VIEW_MM / 2 + self.pixel_mm / 2
        x = float(ds_text(corner + col * self.pixel_mm))
        y = float(ds_text(corner + row * self.pixel_mm))
        return x, y, float(ds_text(self.first_z_mm - index * self.spacing_mm))

    def instance_number(self, index: int) -> int:
        return self.slices - index if self.numbered_from_feet else index + 1

    def pixels(self, index: int, seed: int) -> npt.NDArray[np.uint16]:
        depth = -self.position(index)[2]
        noise = self.ids.number * 100_000 + index
        full = render_at(depth, self.body_length_mm, self.render_size, seed, noise)
        row, col = self.crop_origin()
        return np.ascontiguousarray(full[row : row + self.size, col : col + self.size])


def _image_pixel(ds: Dataset, pixels: npt.NDArray[np.uint16]) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.PixelData = pixels.tobytes()
    ds["PixelData"].VR = "OW"


def _ct_common(ds: Dataset, frame_of_reference: UID, kernel: str) -> None:
    ds.BodyPartExamined = "CHEST"
    ds.KVP = "120"
    ds.XRayTubeCurrent = 200
    ds.ConvolutionKernel = kernel
    ds.PatientPosition = "FFS"
    ds.AcquisitionNumber = 1
    ds.FrameOfReferenceUID = frame_of_reference
    ds.PositionReferenceIndicator = ""


def axial_slice(ctx: StudyContext, series: AxialSeries, index: int, sop_uid: UID) -> Dataset:
    """Slice `index` (0 = most superior) of an axial series, with its pixels."""
    number = series.instance_number(index)
    ds = base_dataset(ctx, CTImageStorage, sop_uid, series.ids, "CT", number)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    _ct_common(ds, series.frame_of_reference, series.kernel)
    ds.SliceThickness = ds_text(series.thickness_mm)
    ds.SpacingBetweenSlices = ds_text(series.spacing_mm)
    ds.DataCollectionDiameter = "500"
    ds.ReconstructionDiameter = ds_text(series.size * series.pixel_mm)
    ds.ImagePositionPatient = [ds_text(v) for v in series.position(index)]
    ds.ImageOrientationPatient = [ds_text(v) for v in AXIAL]
    ds.SliceLocation = ds_text(series.position(index)[2])
    ds.PixelSpacing = [ds_text(series.pixel_mm)] * 2
    ds.WindowCenter = ["40", "-600"] if series.kernel == "STANDARD" else ["500", "-600"]
    ds.WindowWidth = ["400", "1500"] if series.kernel == "STANDARD" else ["2000", "1500"]
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    block.add_new(0x10, "LO", "synthetic phantom")
    block.add_new(0x11, "UL", ctx.seed)
    block.add_new(0x12, "US", series.slices)
    _image_pixel(ds, series.pixels(index, ctx.seed))
    return ds


@dataclass(frozen=True)
class Scout:
    """An AP localizer over the whole body length, with a margin above and below."""

    ids: SeriesIds
    frame_of_reference: UID
    size: int
    body_length_mm: float

    @property
    def row_mm(self) -> float:
        return max(self.body_length_mm, 1.0) * 1.2 / self.size

    @property
    def column_mm(self) -> float:
        return FIELD_OF_VIEW_MM / self.size

    def position(self) -> Vector:
        top = 0.1 * max(self.body_length_mm, 1.0)
        corner = -FIELD_OF_VIEW_MM / 2 + self.column_mm / 2
        return float(ds_text(corner)), 0.0, float(ds_text(top))

    def pixels(self, seed: int) -> npt.NDArray[np.uint16]:
        """Water-equivalent path length through the body per (z, x), as 12-bit values."""
        rows = []
        for row in range(self.size):
            depth = -(self.position()[2] - row * self.row_mm)
            hu = render_at(depth, self.body_length_mm, self.size, seed, 100_000 + row)
            mu = np.clip(hu.astype(np.float32) - 24.0, 0.0, None) / 1000.0  # stored - 1024 + 1000
            rows.append(mu.sum(axis=0) * (self.column_mm / 10.0))  # cm of water, per column
        path_cm = np.stack(rows)
        stored: npt.NDArray[np.uint16] = np.clip(np.rint(path_cm * 100.0), 0, 4095).astype(
            np.uint16
        )
        return stored


def scout_image(
    ctx: StudyContext, scout: Scout, sop_uid: UID
) -> tuple[Dataset, npt.NDArray[np.uint16]]:
    """The localizer dataset and its pixels (the coronal capture reuses them)."""
    ds = base_dataset(ctx, CTImageStorage, sop_uid, scout.ids, "CT", 1)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    _ct_common(ds, scout.frame_of_reference, "STANDARD")
    ds.SliceThickness = ""
    ds.ImagePositionPatient = [ds_text(v) for v in scout.position()]
    ds.ImageOrientationPatient = [ds_text(v) for v in CORONAL]
    ds.PixelSpacing = [ds_text(scout.row_mm), ds_text(scout.column_mm)]
    ds.WindowCenter = "1000"
    ds.WindowWidth = "2500"
    pixels = scout.pixels(ctx.seed)
    _image_pixel(ds, pixels)
    ds.RescaleIntercept = "0"
    ds.RescaleType = "US"  # unspecified: these are path lengths, not HU
    return ds, pixels


def slice_normal(orientation: tuple[float, ...]) -> Vector:
    """Row direction x column direction of an ImageOrientationPatient."""
    r, c = orientation[:3], orientation[3:]
    return (
        r[1] * c[2] - r[2] * c[1],
        r[2] * c[0] - r[0] * c[2],
        r[0] * c[1] - r[1] * c[0],
    )


def along(position: Vector, normal: Vector) -> float:
    return math.fsum(p * n for p, n in zip(position, normal, strict=True))
