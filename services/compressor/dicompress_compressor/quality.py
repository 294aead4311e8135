"""What a lossy slice lost: PSNR over the slice's own value range and the largest error in
modality units (HU for CT) of what we wrote against the source: the same figures for the same
visible loss on a 12-bit and a 16-bit scanner (the PSNR against 2**BitsStored - 1 of version 1
of SliceEncoded was 24 dB apart between them).

The codestream is decoded with pylibjpeg-openjpeg, the decoder pydicom itself uses for JPEG 2000
and HTJ2K, so the figures are those of the pixels a pydicom-based viewer shows (OpenJPH's own
decoder rounds HTJ2K slightly differently). Decoding a 512x512 lossy slice costs ~3 ms, next to
~40 ms for a JPEG 2000 encode. Lossless codecs are exact by construction (reversible wavelet, no
quantisation): they are not decoded here, which would cost ~35 ms for JPEG 2000 lossless, and
the tests prove them bit-exact instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from openjpeg.utils import decode as decode_j2k
from pydicom.dataset import Dataset

from dicompress_compressor.errors import BelowQualityFloor, UnsupportedInput

Pixels = npt.NDArray[np.integer]


@dataclass(frozen=True)
class Quality:
    """What a slice lost, in figures that mean the same on every scanner.

    `psnr_db`: dB over the original's own value range (peak = max - min of its stored values, 1
    for a flat slice; the same in HU, the rescale being linear), None when identical;
    `max_abs_error`: the largest error in stored units; `max_error_hu`: that error in modality
    units (x |RescaleSlope|: HU for CT, stored units without a rescale); `unit` names them.
    """

    psnr_db: float | None
    max_abs_error: int
    max_error_hu: float
    unit: str = "HU"

    def check_floor(self, min_psnr_db: float | None) -> None:
        """Raise BelowQualityFloor when a floor is set and this slice does not reach it."""
        if min_psnr_db is None or self.psnr_db is None or self.psnr_db >= min_psnr_db:
            return
        raise BelowQualityFloor(
            f"image quality too low to ship: {self.psnr_db:.1f} dB against the job's floor of "
            f"{min_psnr_db:g} dB (PSNR over the image's own range of values), some pixels off "
            f"by up to {self.max_error_hu:g} {self.unit}; ask for a lower compression rate, or a "
            "lower minPsnrDb if this loss is acceptable"
        )


LOSSLESS = Quality(psnr_db=None, max_abs_error=0, max_error_hu=0.0)


def measure(
    original: Pixels, codestream: bytes, rescale_slope: float = 1.0, unit: str = "HU"
) -> Quality:
    """Decode `codestream` and compare it with `original` (see `Quality`)."""
    meter = QualityMeter(rescale_slope, unit)
    meter.add(original, codestream)
    return meter.result()


class QualityMeter:
    """The quality of a multi-frame object: PSNR over all its frames' pixels with the peak the
    range of all their values, added one frame at a time (so only one decoded frame is held),
    and the largest error of any frame."""

    def __init__(self, rescale_slope: float = 1.0, unit: str = "HU") -> None:
        self.slope = abs(rescale_slope) or 1.0  # a slope of 0 is no rescale (`rescale_of`)
        self.unit = unit
        self.squared_error = 0
        self.pixels = 0
        self.max_abs_error = 0
        self.lowest: int | None = None
        self.highest: int | None = None

    def add(self, original: Pixels, codestream: bytes) -> None:
        """Decode one frame's `codestream` and compare it with that frame's `original`."""
        decoded = decode_j2k(codestream)
        if decoded.shape != original.shape:
            raise UnsupportedInput(
                f"the encoded slice decodes to {decoded.shape}, not {original.shape}: "
                "report this file to the dicompress maintainers"
            )
        difference = np.subtract(decoded, original, dtype=np.int32).ravel()  # 16-bit values fit
        self.max_abs_error = max(self.max_abs_error, int(np.abs(difference).max()))
        # integer sum of squares, not np.dot: a BLAS call wakes OpenBLAS threads that then spin,
        # which nearly doubled the process's CPU time per slice
        self.squared_error += int(np.square(difference, dtype=np.int64).sum())
        self.pixels += difference.size
        low, high = int(original.min()), int(original.max())
        self.lowest = low if self.lowest is None else min(self.lowest, low)
        self.highest = high if self.highest is None else max(self.highest, high)

    def result(self) -> Quality:
        if self.max_abs_error == 0:
            return LOSSLESS
        mse = self.squared_error / self.pixels
        assert self.lowest is not None  # set by `add`, as max_abs_error is
        assert self.highest is not None
        peak = float(max(self.highest - self.lowest, 1))
        return Quality(
            psnr_db=10.0 * math.log10(peak * peak / mse),
            max_abs_error=self.max_abs_error,
            max_error_hu=self.max_abs_error * self.slope,
            unit=self.unit,
        )


def rescale_of(ds: Dataset) -> tuple[float, str]:
    """|RescaleSlope| of `ds` and the unit of its modality values: "HU" for CT with a rescale,
    "pixel values" otherwise (slope 1). An Enhanced (multi-frame) object keeps its rescale in
    the shared functional groups; a missing, zero or unreadable slope counts as 1."""
    source: Any = ds
    if "RescaleSlope" not in ds:
        shared = ds.get("SharedFunctionalGroupsSequence")
        transform = shared[0].get("PixelValueTransformationSequence") if shared else None
        source = transform[0] if transform else None
    if source is None or "RescaleSlope" not in source:
        return 1.0, "pixel values"
    try:
        slope = abs(float(source.RescaleSlope)) or 1.0
    except (TypeError, ValueError):
        return 1.0, "pixel values"
    unit = "HU" if str(ds.get("Modality", "")).upper() == "CT" else "modality units"
    return slope, unit
