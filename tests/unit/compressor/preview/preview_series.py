"""Small deterministic CT series for the preview tests: any plane (axial, oblique, gantry
tilted), signed or unsigned, with per-slice rescale, padding or MONOCHROME1 on demand.

File names are hashes, so only the geometry gives the order. Pixels are a smooth signed field
with a disc and noise that changes along Z, so averaging and a lossy codec both have something
to do.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from dicompress_compressor.headers import parse_header
from dicompress_compressor.layout import Layout, plan
from dicompress_compressor.preview.dataset import (
    PreviewSliceSpec,
    preview_series_uid,
    preview_sop_uid,
)
from dicompress_compressor.preview.encode import PreviewSlice, make_preview_slice
from dicompress_compressor.preview.plan import plan_groups
from dicompress_compressor.storage import SourceObject
from dicompress_schemas import Codec

Vector = tuple[float, float, float]
Orientation = tuple[float, float, float, float, float, float]

AXIAL: Orientation = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def oblique() -> Orientation:
    """Rows and columns rotated 20 degrees about z then 15 about the new row axis."""
    a, b = math.radians(20.0), math.radians(15.0)
    row = (math.cos(a), math.sin(a), 0.0)
    column0 = (-math.sin(a), math.cos(a), 0.0)
    column = (column0[0] * math.cos(b), column0[1] * math.cos(b), -math.sin(b))
    return (*row, *column)


def tilted(degrees: float = 15.0) -> Orientation:
    """A gantry tilt: the column direction leans out of the axial plane."""
    t = math.radians(degrees)
    return (1.0, 0.0, 0.0, 0.0, math.cos(t), -math.sin(t))


def normal(orientation: Orientation) -> Vector:
    r, c = orientation[:3], orientation[3:]
    n = (r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0])
    length = math.sqrt(sum(v * v for v in n))
    return (n[0] / length, n[1] / length, n[2] / length)


@dataclass(frozen=True)
class SeriesSpec:
    """What the series looks like. `step` (mm, LPS) is the move from one slice to the next in
    acquisition order; None: `spacing` along the plane's normal (a plain stack)."""

    n: int = 8
    size: int = 64
    orientation: Orientation = AXIAL
    spacing: float = 1.25
    step: Vector | None = None
    origin: Vector = (-40.0, -35.0, 20.0)
    pixel_spacing: tuple[float, float] = (0.7, 0.8)
    bits_stored: int = 12
    signed: bool = True
    photometric: str = "MONOCHROME2"
    rescale: Callable[[int], tuple[float, float]] = field(default=lambda i: (1.0, -1024.0))
    padding: int | None = None
    thickness: float | None = 1.25
    seed: int = 0
    description: str = "Axial 1.25 mm"

    def position(self, index: int) -> Vector:
        step = self.step
        if step is None:
            n = normal(self.orientation)
            step = (n[0] * self.spacing, n[1] * self.spacing, n[2] * self.spacing)
        return (
            self.origin[0] + index * step[0],
            self.origin[1] + index * step[1],
            self.origin[2] + index * step[2],
        )


def stored(spec: SeriesSpec, index: int) -> npt.NDArray[np.integer]:
    """Stored values of slice `index`: within BitsStored, signed or not."""
    rng = np.random.default_rng([spec.seed, index])
    axis = np.linspace(0.0, 1.0, spec.size)
    y, x = np.meshgrid(axis, axis, indexing="ij")
    disc = ((x - 0.5) ** 2 + (y - 0.5 - 0.01 * index) ** 2) < 0.08
    field_ = 0.55 * x + 0.25 * y + 0.15 * disc + rng.normal(0.0, 0.02, x.shape)
    top = 2**spec.bits_stored - 1
    values = np.clip(np.rint(field_ * top), 0, top).astype(np.int64)
    if spec.signed:
        values -= 2 ** (spec.bits_stored - 1)
    if spec.padding is not None:  # outside the reconstruction circle
        outside = ((x - 0.5) ** 2 + (y - 0.5) ** 2) > 0.22
        values[outside] = spec.padding
    return values.astype(np.int16 if spec.signed else np.uint16)


def _uid(spec: SeriesSpec, what: str) -> str:
    return generate_uid(entropy_srcs=["preview-series", str(spec.seed), what])


def dataset(spec: SeriesSpec, index: int) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = _uid(spec, f"sop/{index}")
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20240115"
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "093000"
    ds.AccessionNumber = "PRV0001"
    ds.Modality = "CT"
    ds.Manufacturer = "dicompress tests"
    ds.ReferringPhysicianName = ""
    ds.SeriesDescription = spec.description
    ds.PatientName = "PREVIEW^PHANTOM"
    ds.PatientID = "PRV-1"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.KVP = "120"
    ds.StudyInstanceUID = _uid(spec, "study")
    ds.SeriesInstanceUID = _uid(spec, "series")
    ds.FrameOfReferenceUID = _uid(spec, "frame")
    ds.PositionReferenceIndicator = ""
    ds.StudyID = "1"
    ds.SeriesNumber = 3
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = index + 1
    position = spec.position(index)
    ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
    ds.ImageOrientationPatient = [f"{v:.8f}" for v in spec.orientation]
    ds.SliceLocation = f"{position[2]:.6f}"
    if spec.thickness is not None:
        ds.SliceThickness = f"{spec.thickness:g}"
    ds.PixelSpacing = [f"{v:g}" for v in spec.pixel_spacing]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = spec.photometric
    ds.Rows = ds.Columns = spec.size
    ds.BitsAllocated = 16
    ds.BitsStored = spec.bits_stored
    ds.HighBit = spec.bits_stored - 1
    ds.PixelRepresentation = int(spec.signed)
    slope, intercept = spec.rescale(index)
    ds.RescaleSlope = f"{slope:g}"
    ds.RescaleIntercept = f"{intercept:g}"
    ds.RescaleType = "HU"
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    if spec.padding is not None:
        ds.add_new(0x00280120, "SS" if spec.signed else "US", spec.padding)
    ds.PixelData = stored(spec, index).tobytes()
    ds["PixelData"].VR = "OW"
    return ds


def part10(ds: Dataset) -> bytes:
    out = io.BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()


def series_files(spec: SeriesSpec) -> list[tuple[str, bytes]]:
    """(file name, Part 10 bytes) in acquisition order; names say nothing of the order."""
    files = []
    for index in range(spec.n):
        name = hashlib.sha256(f"{spec.seed}/{index}".encode()).hexdigest()[:12] + ".dcm"
        files.append((name, part10(dataset(spec, index))))
    return files


def laid_out(files: list[tuple[str, bytes]], prefix: str = "acme/studies/s/se/") -> Layout:
    """The compressor's layout of `files` as if stored under `prefix` in bucket "bucket"."""
    headers = [
        parse_header(SourceObject("bucket", prefix + name, len(data)), data, whole=True)
        for name, data in files
    ]
    return plan([h for h in headers if h is not None], prefix)


def make_preview(
    files: list[tuple[str, bytes]],
    bin_xy: int,
    bin_z: int,
    codec: Codec = Codec.J2K_LOSSY,
    rate: float = 10.0,
    job_id: str = "job-1",
) -> list[PreviewSlice]:
    """The preview series of `files`, made in this process (no pool, no S3)."""
    data = dict(files)
    layout = laid_out(files)
    (series,) = layout.series
    preview = plan_groups(series, layout.slices, bin_z)
    spacing = None if series.spacing is None else series.spacing.mean
    made = []
    for group in preview.groups:
        spec = PreviewSliceSpec(
            index=group.index,
            bin_xy=bin_xy,
            bin_z=bin_z,
            codec=codec,
            rate=rate,
            series_uid=preview_series_uid(job_id, series.uid),
            sop_uid=preview_sop_uid(job_id, group.index),
            spacing_mm=spacing,
        )
        sources = [data[m.header.source.key.rsplit("/", 1)[-1]] for m in group.members]
        made.append(make_preview_slice(sources, spec))
    return made
