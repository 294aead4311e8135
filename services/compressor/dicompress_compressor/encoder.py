"""Encode one DICOM slice to lossy JPEG 2000: the pure core, run inside pool worker processes.

The rate is gdcmconv's: pixel bytes at BitsAllocated / codestream bytes. OpenJPEG counts its
ratio against BitsStored, so we ask it for `rate * BitsStored / BitsAllocated` (12-bit CT in 16-bit
words: rate 100 -> 75); asking for `rate` itself gives 133:1 and ~2 dB less PSNR. Every non-pixel
element, private tags included, is kept; the lossy attributes are set as PS3.3 C.7.6.1.1.5 asks.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.errors import InvalidDicomError
from pydicom.filewriter import dcmwrite
from pydicom.multival import MultiValue
from pydicom.pixels.encoders.base import JPEG2000Encoder
from pydicom.uid import JPEG2000

from dicompress_compressor.errors import EncoderUnavailable, NoPixelData, NotDicom, UnsupportedInput
from dicompress_schemas import Codec

PLUGIN = "pylibjpeg"
TRANSFER_SYNTAX = JPEG2000  # 1.2.840.10008.1.2.4.91, JPEG 2000 Image Compression (lossy allowed)
METHOD = "ISO_15444_1"
SUPPORTED_CODECS = frozenset({Codec.J2K_LOSSY})
ANONYMIZE_SUPPORTED = False


@dataclass(frozen=True)
class EncodeOptions:
    """How to encode every slice of a job; picklable, it travels to the pool processes."""

    codec: Codec = Codec.J2K_LOSSY
    rate: float | None = 100.0  # gdcmconv's meaning; None for lossless codecs
    min_psnr: float | None = None  # quality floor in dB: below it the slice is rejected
    anonymize_seed: str | None = None  # set to de-identify, the same for every slice of a job


@dataclass(frozen=True)
class EncodedSlice:
    """The encoded DICOM file and what it cost; picklable, it travels back from the pool."""

    data: bytes
    pixel_bytes: int
    codestream_bytes: int
    ratio: float
    encode_ms: float
    sop_instance_uid: str = ""
    source_sop_instance_uid: str | None = None
    psnr: float | None = None  # None when lossless (identical pixels)
    max_abs_error: int | None = None


def check_encoder_available() -> None:
    """Fail at start-up, not on the first job, when the JPEG 2000 plugin is missing."""
    if PLUGIN not in JPEG2000Encoder.available_plugins:
        missing = "; ".join(JPEG2000Encoder.missing_dependencies) or "unknown"
        raise EncoderUnavailable(
            f"pydicom's '{PLUGIN}' JPEG 2000 encoder is unavailable ({missing}): "
            "install pylibjpeg and pylibjpeg-openjpeg"
        )


def openjpeg_ratio(rate: float, bits_stored: int, bits_allocated: int) -> float:
    """OpenJPEG's compression ratio for a gdcmconv-style `rate` (see the module docstring)."""
    return max(1.0, rate * bits_stored / bits_allocated)  # OpenJPEG refuses ratios below 1


def encode_slice(data: bytes, options: EncodeOptions) -> EncodedSlice:
    """Encode one DICOM Part 10 file as `options` say; raise SliceRejected for what we refuse.

    Already-compressed input is decoded first. The result has a new SOP Instance UID (also in
    the file meta), LossyImageCompression "01", and the measured ratio and method appended to
    any earlier ones.
    """
    if options.codec not in SUPPORTED_CODECS or options.rate is None:
        raise UnsupportedInput(f"codec {options.codec.value} is not implemented yet")
    if options.anonymize_seed is not None and not ANONYMIZE_SUPPORTED:
        raise UnsupportedInput("anonymize is not implemented yet")
    rate = options.rate
    started = time.process_time()
    ds = _read(data)
    source_uid = str(ds.get("SOPInstanceUID", "")) or None
    _check_supported(ds)
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        ds.decompress(generate_instance_uid=False)  # compress() below gives the new UID
    pixel_bytes = ds.Rows * ds.Columns * ds.SamplesPerPixel * ds.BitsAllocated // 8
    ds.compress(
        TRANSFER_SYNTAX,
        encoding_plugin=PLUGIN,
        j2k_cr=[openjpeg_ratio(rate, ds.BitsStored, ds.BitsAllocated)],
        generate_instance_uid=True,
    )
    codestream_bytes = sum(len(f) for f in generate_frames(ds.PixelData, number_of_frames=1))
    ratio = pixel_bytes / codestream_bytes
    _mark_lossy(ds, ratio)
    out = io.BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    return EncodedSlice(
        data=out.getvalue(),
        pixel_bytes=pixel_bytes,
        codestream_bytes=codestream_bytes,
        ratio=ratio,
        encode_ms=(time.process_time() - started) * 1000.0,
        sop_instance_uid=str(ds.SOPInstanceUID),
        source_sop_instance_uid=source_uid,
    )


def _read(data: bytes) -> Dataset:
    try:
        return dcmread(io.BytesIO(data))
    except InvalidDicomError as exc:
        raise NotDicom(
            f"not a DICOM Part 10 file ({exc}); upload only the series' .dcm files"
        ) from exc


def _check_supported(ds: Dataset) -> None:
    if "PixelData" not in ds:
        raise NoPixelData("no Pixel Data (7FE0,0010): not an image, nothing to compress")
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        raise UnsupportedInput(
            f"{ds.SamplesPerPixel} samples per pixel ({ds.get('PhotometricInterpretation', '?')}):"
            " only greyscale images are supported for now"
        )
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise UnsupportedInput(
            f"multi-frame image ({ds.NumberOfFrames} frames): only single-frame slices "
            "are supported for now"
        )
    if ds.get("BitsAllocated") not in (8, 16):
        raise UnsupportedInput(
            f"BitsAllocated {ds.get('BitsAllocated')}: only 8- and 16-bit images are supported"
        )


def _mark_lossy(ds: Dataset, ratio: float) -> None:
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionRatio = [*_values(ds, "LossyImageCompressionRatio"), f"{ratio:.2f}"]
    ds.LossyImageCompressionMethod = [*_values(ds, "LossyImageCompressionMethod"), METHOD]


def _values(ds: Dataset, keyword: str) -> list[str]:
    """An element's values as strings; [] when absent or empty."""
    value = ds.get(keyword)
    if value is None or value == "":
        return []
    if isinstance(value, MultiValue | list):
        return [str(v) for v in value]
    return [str(value)]
