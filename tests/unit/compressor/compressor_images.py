"""Small DICOM images for the encoder tests: any bit depth and signedness, in memory.

The synthetic CT (stack/dicompress_stack/synthetic_ct.py) is 12-bit unsigned only; these cover
the rest of what the encoder accepts. Pixels are a smooth gradient with a disc and noise, so a
lossy codec has something to lose; 64x64 because OpenJPEG's 6 resolution levels need >= 32.
"""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

PRIVATE_GROUP = 0x0011
PRIVATE_CREATOR = "DICOMPRESS TEST"


def stored_values(
    size: int, bits_allocated: int, bits_stored: int, signed: bool, seed: int = 0
) -> npt.NDArray[np.integer]:
    """A size x size image using most of the BitsStored range."""
    rng = np.random.default_rng(seed)
    axis = np.linspace(0.0, 1.0, size)
    y, x = np.meshgrid(axis, axis, indexing="ij")
    field = 0.6 * x + 0.2 * y + 0.15 * (((x - 0.5) ** 2 + (y - 0.5) ** 2) < 0.08)
    field += rng.normal(0.0, 0.02, (size, size))
    top = 2**bits_stored - 1
    values = np.clip(np.rint(field * top), 0, top).astype(np.int64)
    if signed:
        values -= 2 ** (bits_stored - 1)
    dtype = f"{'i' if signed else 'u'}{bits_allocated // 8}"
    return values.astype(dtype)


def image_bytes(
    *,
    size: int = 64,
    bits_allocated: int = 16,
    bits_stored: int = 16,
    signed: bool = False,
    **overrides: object,
) -> bytes:
    """A CT Image Storage Part 10 file with a private block; `overrides` set or (None) delete."""
    pixels = stored_values(size, bits_allocated, bits_stored, signed)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid(entropy_srcs=["compressor-images", str(bits_stored)])
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["compressor-images", "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["compressor-images", "series"])
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.Modality = "CT"
    ds.PatientName = "DOE^JANE"
    ds.PatientID = "MRN-0042"
    ds.PatientBirthDate = "19610203"
    ds.StudyDate = "20240115"
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = int(signed)
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "0.5"
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    block.add_new(0x10, "LO", "kept through compression")
    ds.PixelData = pixels.tobytes()
    ds["PixelData"].VR = "OW" if bits_allocated == 16 else "OB"
    for keyword, value in overrides.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    out = io.BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()


def read(data: bytes) -> Dataset:
    return dcmread(io.BytesIO(data))


def range_psnr(reference: npt.NDArray[np.integer], decoded: npt.NDArray[np.integer]) -> float:
    """PSNR over the reference's own value range (SliceEncoded v2's psnr_db), computed in
    floating point as a check on the compressor's integer sums."""
    difference = reference.astype(np.float64) - decoded.astype(np.float64)
    mse = float(np.mean(difference**2))
    peak = max(float(reference.max()) - float(reference.min()), 1.0)
    return float(10.0 * np.log10(peak**2 / mse)) if mse else float("inf")
