"""A deterministic synthetic CT series: realistic enough to compress like a real chest/abdomen CT.

pydicom ships one 128x128 CT and nothing else offline, and real series carry patient data, so the
tests, the benchmark and the demo generate their input here. Each slice is a 512x512, 12-bit
(stored 0..4095, HU = stored - 1024) CT Image Storage object, explicit VR little endian: a body
ellipse of textured soft tissue with a fat rim, lungs that grow and shrink along z, heart, aorta,
liver, kidneys, bowel gas, spine (vertebral bodies and discs) and ribs, air outside, and Gaussian
noise. The same seed gives the same bytes; a private block (group 0x0019, creator
"DICOMPRESS SYNTH") lets tests prove that private tags survive compression.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian, generate_uid

PRIVATE_GROUP = 0x0019
PRIVATE_CREATOR = "DICOMPRESS SYNTH"
FIELD_OF_VIEW_MM = 360.0
SLICE_THICKNESS_MM = 1.25
NOISE_SD_HU = 15.0
_AIR, _FAT, _SOFT, _LUNG, _BONE_CORTEX, _BONE_MARROW = -1000.0, -100.0, 40.0, -850.0, 1200.0, 700.0

Image = npt.NDArray[np.float32]


@dataclass(frozen=True)
class _Grid:
    """Pixel-centre coordinates normalised to [-1, 1]; y grows towards the patient's back."""

    x: Image
    y: Image
    size: int


@lru_cache(maxsize=4)
def _grid(size: int) -> _Grid:
    axis = ((np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0).astype(np.float32)
    y, x = np.meshgrid(axis, axis, indexing="ij")
    return _Grid(x=x, y=y, size=size)


@lru_cache(maxsize=4)
def _texture(size: int, seed: int) -> tuple[Image, Image, Image]:
    """Smooth random fields (unit sd): two coarse ones (blobs of ~8 pixels, tissue texture that
    drifts along z) and a fine one whose peaks become lung vessels."""
    rng = np.random.default_rng([seed, 0x7E47])
    freq = np.fft.fftfreq(size).astype(np.float32)
    radius = np.hypot(freq[:, None], freq[None, :])
    fields = []
    for cutoff in (0.04, 0.04, 0.12):
        noise = rng.standard_normal((size, size))
        field = np.fft.ifft2(np.fft.fft2(noise) * np.exp(-((radius / cutoff) ** 2))).real
        fields.append((field / field.std()).astype(np.float32))
    return fields[0], fields[1], fields[2]


@lru_cache(maxsize=4)
def _noise_bank(size: int, seed: int) -> tuple[Image, ...]:
    """White Gaussian noise fields, rolled differently for every slice: drawing 262k normals per
    slice would be a third of the time budget."""
    rng = np.random.default_rng([seed, 0x1015E])
    return tuple(
        rng.standard_normal((size, size), dtype=np.float32) * np.float32(NOISE_SD_HU)
        for _ in range(8)
    )


def _ellipse(
    g: _Grid, cx: float, cy: float, a: float, b: float
) -> tuple[slice, slice, npt.NDArray[np.bool_]]:
    """Bounding-box window and the inside mask of an ellipse (small shapes stay cheap)."""

    def window(centre: float, half: float) -> slice:
        lo = max(0, int((centre - half + 1.0) / 2.0 * g.size) - 1)
        hi = min(g.size, int((centre + half + 1.0) / 2.0 * g.size) + 2)
        return slice(lo, hi)

    rows, cols = window(cy, b), window(cx, a)
    x, y = g.x[rows, cols], g.y[rows, cols]
    inside = ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1.0
    return rows, cols, inside


def _paint(img: Image, g: _Grid, cx: float, cy: float, a: float, b: float, hu: float) -> None:
    rows, cols, inside = _ellipse(g, cx, cy, a, b)
    img[rows, cols][inside] = hu


def _bump(t: float, start: float, end: float) -> float:
    """0 outside [start, end], rising smoothly to 1 in the middle: organs that come and go."""
    if not start < t < end:
        return 0.0
    return float(math.sin(math.pi * (t - start) / (end - start)) ** 0.5)


def _anatomy(g: _Grid, t: float, z_mm: float, slice_index: int, seed: int) -> Image:
    """Piecewise-constant HU map of one slice at fraction `t` (0 = lung apex, 1 = pelvis)."""
    img = np.full((g.size, g.size), _AIR, dtype=np.float32)
    # patient table under the body
    img[int(0.82 * g.size) : int(0.84 * g.size), int(0.12 * g.size) : int(0.88 * g.size)] = -300.0
    body_a = 0.80 - 0.06 * t + 0.02 * math.sin(z_mm / 40.0)
    body_b = 0.56 + 0.03 * math.sin(z_mm / 55.0)
    _paint(img, g, 0.0, 0.02, body_a, body_b, _FAT)
    _paint(img, g, 0.0, 0.02, body_a - 0.06, body_b - 0.06, _SOFT)

    if (liver := _bump(t, 0.42, 0.82)) > 0:
        _paint(img, g, -0.30, -0.08, 0.36 * liver, 0.30 * liver, 60.0)
    if (kidneys := _bump(t, 0.58, 0.82)) > 0:
        for side in (-1.0, 1.0):
            _paint(img, g, side * 0.30, 0.26, 0.08 * kidneys, 0.10 * kidneys, 150.0)
    if (bowel := _bump(t, 0.55, 1.0)) > 0:
        rng = np.random.default_rng(
            [seed, slice_index // 8, 0xB0]
        )  # gas pockets persist over ~1 cm
        for _ in range(int(6 * bowel)):
            cx, cy = rng.uniform(-0.35, 0.4), rng.uniform(-0.35, 0.1)
            r = rng.uniform(0.02, 0.05)
            _paint(img, g, cx, cy, r, r * 0.8, -900.0)
    if (heart := _bump(t, 0.18, 0.52)) > 0:
        _paint(img, g, 0.10, -0.18, 0.26 * heart, 0.22 * heart, 45.0)
    if (lungs := _bump(t, 0.0, 0.56)) > 0:
        for side in (-1.0, 1.0):
            _paint(img, g, side * 0.36, -0.04, 0.27 * lungs, 0.40 * lungs, _LUNG)
        if heart > 0:  # the heart sits in front of and between the lungs
            _paint(img, g, 0.10, -0.18, 0.24 * heart, 0.20 * heart, 45.0)
    _paint(img, g, 0.10, 0.18, 0.045, 0.045, 180.0)  # descending aorta, contrast-enhanced

    in_disc = (z_mm % 30.0) < 5.0  # vertebral body ~25 mm, disc ~5 mm
    if in_disc:
        _paint(img, g, 0.0, 0.30, 0.10, 0.085, 80.0)
    else:
        _paint(img, g, 0.0, 0.30, 0.10, 0.085, _BONE_CORTEX)
        _paint(img, g, 0.0, 0.30, 0.08, 0.068, _BONE_MARROW)
    _paint(img, g, 0.0, 0.43, 0.035, 0.035, 15.0)  # spinal canal
    _paint(img, g, 0.0, 0.51, 0.022, 0.055, 900.0)  # spinous process
    if t < 0.62:  # ribs: cross-sections on the chest wall, coming and going along z
        for k in range(11):
            degrees = -165 + k * 33 + 6 * math.sin(z_mm / 20.0 + k)
            if abs(degrees + 90) < 30 or math.sin(z_mm / 9.0 + k * 1.7) < -0.4:
                continue  # no rib over the spine; each rib leaves the plane now and then
            angle = math.radians(degrees)
            cx = (body_a - 0.10) * math.cos(angle)
            cy = 0.02 - (body_b - 0.10) * math.sin(angle)
            _paint(img, g, cx, cy, 0.035, 0.022, 1000.0)
    return img


def render_slice(
    index: int, n_slices: int = 399, size: int = 512, seed: int = 0
) -> npt.NDArray[np.uint16]:
    """Stored pixel values (uint16, 0..4095; HU = value - 1024) of slice `index` of a series."""
    t = index / max(1, n_slices - 1)
    return _render(size, t, index * SLICE_THICKNESS_MM, index, index, seed)


def render_at(
    depth_mm: float, length_mm: float, size: int = 512, seed: int = 0, noise_index: int = 0
) -> npt.NDArray[np.uint16]:
    """Stored values of the axial slice `depth_mm` below the top of a body `length_mm` long.

    The anatomy depends on the depth only, so series with other slice positions (a bone
    reconstruction, a scout's rows) show the same patient; `noise_index` picks the noise, which
    differs between series. The field of view is always FIELD_OF_VIEW_MM across `size` pixels.
    """
    t = min(1.0, max(0.0, depth_mm / length_mm)) if length_mm > 0 else 0.0
    index = round(depth_mm / SLICE_THICKNESS_MM)
    return _render(size, t, depth_mm, index, noise_index, seed)


def _render(
    size: int, t: float, z_mm: float, index: int, noise_index: int, seed: int
) -> npt.NDArray[np.uint16]:
    g = _grid(size)
    hu = _anatomy(g, t, z_mm, index, seed)
    tex_a, tex_b, fine = _texture(size, seed)
    phase = z_mm / 30.0
    drifting = math.cos(phase) * tex_a + math.sin(phase) * tex_b
    vessels = (hu == _LUNG) & (np.roll(fine, index, axis=1) * 0.7 + drifting * 0.3 > 1.6)
    hu[vessels] = 30.0
    hu += (hu > -950.0) * (8.0 * drifting)
    bank = _noise_bank(size, seed)
    shift = np.random.default_rng([seed, noise_index, 0x1015E]).integers(0, size, 2)
    hu += np.roll(bank[noise_index % len(bank)], (int(shift[0]), int(shift[1])), axis=(0, 1))
    stored: npt.NDArray[np.uint16] = np.clip(np.rint(hu + 1024.0), 0, 4095).astype(np.uint16)
    return stored


def _uid(seed: int, what: str) -> UID:
    return generate_uid(entropy_srcs=[f"dicompress-synthetic-ct/{seed}/{what}"])


def _dataset(index: int, n_slices: int, size: int, seed: int) -> Dataset:
    spacing = FIELD_OF_VIEW_MM / size
    z = -index * SLICE_THICKNESS_MM  # LPS: the series runs from head to feet
    sop_uid = _uid(seed, f"sop/{index}")

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20240115"
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "093000"
    ds.AccessionNumber = f"SYN{seed:06d}"
    ds.Modality = "CT"
    ds.Manufacturer = "dicompress synthetic"
    ds.StudyDescription = "Synthetic chest-abdomen CT"
    ds.SeriesDescription = "Axial 1.25 mm"
    ds.PatientName = f"SYNTHETIC^PHANTOM{seed}"
    ds.PatientID = f"SYNTH-{seed:04d}"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.BodyPartExamined = "CHEST"
    ds.SliceThickness = f"{SLICE_THICKNESS_MM:g}"
    ds.KVP = "120"
    ds.StudyInstanceUID = _uid(seed, "study")
    ds.SeriesInstanceUID = _uid(seed, "series")
    ds.StudyID = "1"
    ds.SeriesNumber = 2
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = index + 1
    origin = -FIELD_OF_VIEW_MM / 2 + spacing / 2
    ds.ImagePositionPatient = [f"{origin:.6g}", f"{origin:.6g}", f"{z:.6g}"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.FrameOfReferenceUID = _uid(seed, "frame-of-reference")
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = f"{z:.6g}"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = size
    ds.PixelSpacing = [f"{spacing:.6g}", f"{spacing:.6g}"]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.WindowCenter = ["40", "-600"]
    ds.WindowWidth = ["400", "1500"]
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    block.add_new(0x10, "LO", "synthetic phantom")
    block.add_new(0x11, "UL", seed)
    block.add_new(0x12, "US", n_slices)
    ds.PixelData = render_slice(index, n_slices, size, seed).tobytes()
    ds["PixelData"].VR = "OW"
    return ds


def slice_name(index: int) -> str:
    """File name of slice `index`: unpadded numbers, as many exporters write them, so readers
    must sort naturally (IM2 before IM10)."""
    return f"IM{index + 1}.dcm"


def generate_series(
    n_slices: int = 399, size: int = 512, seed: int = 0
) -> Iterator[tuple[str, bytes]]:
    """Yield (file name, DICOM Part 10 bytes) per slice, head to feet; same seed, same bytes."""
    for index in range(n_slices):
        yield slice_name(index), slice_bytes(index, n_slices, size, seed)


def slice_bytes(index: int, n_slices: int = 399, size: int = 512, seed: int = 0) -> bytes:
    """DICOM Part 10 bytes of slice `index` alone (tests pick the slices they need)."""
    buffer = io.BytesIO()
    dcmwrite(buffer, _dataset(index, n_slices, size, seed), enforce_file_format=True)
    return buffer.getvalue()


def write_series(
    directory: Path | str, n_slices: int = 399, size: int = 512, seed: int = 0
) -> list[Path]:
    """Write the series into `directory` (created if needed); return the files in slice order."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in generate_series(n_slices, size, seed):
        path = root / name
        path.write_bytes(data)
        paths.append(path)
    return paths
