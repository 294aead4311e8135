"""Pixels -> one JPEG 2000 or HTJ2K codestream, for each codec a job may ask for.

JPEG 2000 Part 1 goes through pydicom's encoders with the pylibjpeg (OpenJPEG) plugin named
explicitly; HTJ2K (Part 15) through `imagecodecs` (OpenJPH), which pydicom cannot encode. The
rate is gdcmconv's: pixel bytes at BitsAllocated / codestream bytes. OpenJPEG counts its ratio
against BitsStored, so it is asked for `rate * BitsStored / BitsAllocated` (12-bit CT in 16-bit
words: rate 100 -> 75; asking for 100 gives 133:1 and ~2 dB less PSNR). OpenJPH has no ratio
setting at all, so `htj2k.calibrated_encode` searches its quantisation step per slice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.pixels.encoders.base import JPEG2000Encoder, JPEG2000LosslessEncoder
from pydicom.uid import HTJ2K, JPEG2000, UID, HTJ2KLossless, JPEG2000Lossless

from dicompress_compressor import htj2k
from dicompress_compressor.errors import UnsupportedInput
from dicompress_schemas import Codec

PLUGIN = "pylibjpeg"
OPENJPEG_MIN_SIDE = 32  # pydicom asks OpenJPEG for 6 resolution levels: 5 halvings of each side

Pixels = npt.NDArray[np.integer]


@dataclass(frozen=True)
class CodecSpec:
    """What a codec writes: its transfer syntax and, when lossy, the method it declares."""

    transfer_syntax: UID
    method: str  # LossyImageCompressionMethod (PS3.3 C.7.6.1.1.5.1)
    high_throughput: bool

    @property
    def lossless(self) -> bool:
        return self.transfer_syntax in (JPEG2000Lossless, HTJ2KLossless)


SPECS: dict[Codec, CodecSpec] = {
    Codec.J2K_LOSSY: CodecSpec(JPEG2000, "ISO_15444_1", high_throughput=False),
    Codec.J2K_LOSSLESS: CodecSpec(JPEG2000Lossless, "ISO_15444_1", high_throughput=False),
    Codec.HTJ2K_LOSSY: CodecSpec(HTJ2K, "ISO_15444_15", high_throughput=True),
    Codec.HTJ2K_LOSSLESS: CodecSpec(HTJ2KLossless, "ISO_15444_15", high_throughput=True),
}


@dataclass(frozen=True)
class ImageFormat:
    """The Image Pixel attributes an encoder needs, read from the dataset."""

    rows: int
    columns: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    photometric_interpretation: str

    @property
    def pixel_bytes(self) -> int:
        return self.rows * self.columns * self.bits_allocated // 8


def openjpeg_ratio(rate: float, bits_stored: int, bits_allocated: int) -> float:
    """OpenJPEG's compression ratio for a gdcmconv-style `rate` (see the module docstring)."""
    return max(1.0, rate * bits_stored / bits_allocated)  # OpenJPEG refuses ratios below 1


def codestream_precision(codec: Codec, image: ImageFormat) -> int:
    """The component precision the codestream will declare.

    OpenJPEG writes BitsStored. imagecodecs' OpenJPH binding always writes the array's item size
    (16 for 12-bit CT in 16-bit words) and offers no setting, so the encoder sets BitsStored to
    match in HTJ2K output: otherwise a lossy overshoot above 4095 would be a legal decoded value
    that a viewer masking to 12 bits shows as a black speck in bright bone.
    """
    return image.bits_allocated if SPECS[codec].high_throughput else image.bits_stored


def encode_frame(pixels: Pixels, image: ImageFormat, codec: Codec, rate: float | None) -> bytes:
    """One frame's codestream; `rate` is required for lossy codecs and ignored otherwise."""
    spec = SPECS[codec]
    if not spec.lossless and (rate is None or rate <= 1.0):
        raise UnsupportedInput(f"codec {codec.value} needs a compression rate above 1, got {rate}")
    if not spec.high_throughput and min(image.rows, image.columns) < OPENJPEG_MIN_SIDE:
        raise UnsupportedInput(
            f"a {image.rows}x{image.columns} image is too small for pydicom's JPEG 2000 encoder "
            f"(6 resolution levels need {OPENJPEG_MIN_SIDE} pixels a side): use an htj2k codec"
        )
    try:
        return _encode(pixels, image, codec, rate)
    except (RuntimeError, ValueError) as exc:  # what the codec libraries raise when they refuse
        raise UnsupportedInput(
            f"the {codec.value} encoder refused this {image.rows}x{image.columns} image: {exc}"
        ) from exc


def _encode(pixels: Pixels, image: ImageFormat, codec: Codec, rate: float | None) -> bytes:
    spec = SPECS[codec]
    if spec.high_throughput:
        if spec.lossless:
            return htj2k.encode_lossless(pixels)
        assert rate is not None  # checked above
        return htj2k.calibrated_encode(pixels, target_bytes=image.pixel_bytes / rate)
    kwargs: dict[str, Any] = {  # the Image Pixel description pydicom's encoders validate
        "rows": image.rows,
        "columns": image.columns,
        "samples_per_pixel": 1,
        "bits_allocated": image.bits_allocated,
        "bits_stored": image.bits_stored,
        "pixel_representation": int(image.signed),
        "photometric_interpretation": image.photometric_interpretation,
        "number_of_frames": 1,
    }
    if spec.lossless:
        return bytes(JPEG2000LosslessEncoder.encode(pixels, encoding_plugin=PLUGIN, **kwargs))
    assert rate is not None
    ratio = openjpeg_ratio(rate, image.bits_stored, image.bits_allocated)
    return bytes(JPEG2000Encoder.encode(pixels, encoding_plugin=PLUGIN, j2k_cr=[ratio], **kwargs))


def missing_plugins() -> list[str]:
    """What is missing to encode and decode every codec; [] when all is there."""
    missing = []
    for encoder in (JPEG2000Encoder, JPEG2000LosslessEncoder):
        if PLUGIN not in encoder.available_plugins:
            reasons = "; ".join(encoder.missing_dependencies) or "unknown"
            missing.append(f"pydicom's '{PLUGIN}' {encoder.UID.name} encoder ({reasons})")
    if not htj2k.available():
        missing.append("imagecodecs' HTJ2K (OpenJPH) encoder")
    return missing
