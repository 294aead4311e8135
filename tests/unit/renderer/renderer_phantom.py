"""A CT phantom defined in patient coordinates (LPS, mm), sliced into DICOM with any
orientation: the tests know where anterior, left and superior are whatever the rows and columns
of the stored images do.

Air (-1000 HU) around a soft-tissue cylinder (40 HU, radius 70 mm, along z); inside it, near
the front, a bone rod (1200 HU) along z; a bone marker on the patient's left (+x); a bone
marker near the top (superior, +z) on the patient's right.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

BODY_RADIUS = 70.0
ROD = (0.0, -55.0, 8.0)  # x, y, radius: anterior (-y), centred left-right
LEFT_MARKER = (45.0, 0.0, 8.0)  # on the patient's left (+x)
TOP_MARKER_X = -40.0  # superior marker, on the patient's right
AIR, SOFT, BONE = -1000.0, 40.0, 1200.0

ARTEFACTS = Path(__file__).resolve().parents[3] / "test-output" / "renderer"


@dataclass(frozen=True)
class PhantomSpec:
    slices: int = 24
    size: int = 64
    pixel_mm: float = 3.0  # a 192 mm field of view at 64 px
    slice_mm: float = 3.0
    orientation: tuple[float, ...] = (1, 0, 0, 0, 1, 0)
    monochrome1: bool = False
    rescaled: bool = True  # False: a cone-beam CT stored as HU + 1000 with no rescale
    window: tuple[float, float] | None = (40.0, 400.0)

    @property
    def height_mm(self) -> float:
        return self.slices * self.slice_mm


def hu_at(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    z: npt.NDArray[np.float64],
    spec: PhantomSpec,
) -> npt.NDArray[np.float64]:
    hu = np.full(x.shape, AIR)
    hu[x**2 + y**2 <= BODY_RADIUS**2] = SOFT
    for cx, cy, radius in (ROD, LEFT_MARKER):
        hu[(x - cx) ** 2 + (y - cy) ** 2 <= radius**2] = BONE
    top = spec.height_mm / 2 - 4 * spec.slice_mm  # the top four slices
    hu[((x - TOP_MARKER_X) ** 2 + y**2 <= 10.0**2) & (z >= top)] = BONE
    return hu


def series(spec: PhantomSpec) -> list[bytes]:
    """The phantom's slices as DICOM Part 10 bytes, in a scrambled order."""
    row = np.array(spec.orientation[:3], dtype=np.float64)
    column = np.array(spec.orientation[3:], dtype=np.float64)
    normal = np.cross(row, column)
    half = (spec.size - 1) / 2 * spec.pixel_mm
    series_uid = generate_uid()
    out = []
    for k in range(spec.slices):
        along = (k - (spec.slices - 1) / 2) * spec.slice_mm
        corner = normal * along - row * half - column * half
        r, c = np.mgrid[0 : spec.size, 0 : spec.size].astype(np.float64)
        points = (
            corner[:, None, None]
            + row[:, None, None] * c * spec.pixel_mm
            + column[:, None, None] * r * spec.pixel_mm
        )
        hu = hu_at(points[0], points[1], points[2], spec)
        stored = np.clip(hu + (1024 if spec.rescaled else 1000), 0, 4095).astype(np.uint16)
        out.append(_dicom(spec, stored, corner, series_uid, k))
    return out[1::2] + out[::2]


def _dicom(
    spec: PhantomSpec,
    stored: npt.NDArray[np.uint16],
    position: npt.NDArray[np.float64],
    series_uid: str,
    index: int,
) -> bytes:
    sop = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, sop
    ds.Modality = "CT"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3", series_uid
    ds.InstanceNumber = index + 1
    ds.ImagePositionPatient = [f"{v:.4f}" for v in position]
    ds.ImageOrientationPatient = [f"{v:g}" for v in spec.orientation]
    ds.PixelSpacing = [f"{spec.pixel_mm:g}", f"{spec.pixel_mm:g}"]
    ds.SliceThickness = f"{spec.slice_mm:g}"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1" if spec.monochrome1 else "MONOCHROME2"
    ds.Rows = ds.Columns = spec.size
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    if spec.rescaled:
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
    if spec.window is not None:
        ds.WindowCenter, ds.WindowWidth = f"{spec.window[0]:g}", f"{spec.window[1]:g}"
    ds.PixelData = stored.tobytes()
    buffer = io.BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def save_artefact(name: str, data: bytes) -> Path:
    """Keep an image for a human to look at (test-output/ is ignored by git)."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / name
    path.write_bytes(data)
    return path
