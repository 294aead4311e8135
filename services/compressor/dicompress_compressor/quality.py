"""What a lossy slice lost: PSNR and maximum absolute error of what we wrote against the source.

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

import numpy as np
import numpy.typing as npt
from openjpeg.utils import decode as decode_j2k

from dicompress_compressor.errors import BelowQualityFloor, UnsupportedInput

Pixels = npt.NDArray[np.integer]


@dataclass(frozen=True)
class Quality:
    """PSNR in dB (None when identical) and the largest error in stored units."""

    psnr: float | None
    max_abs_error: int

    def check_floor(self, min_psnr: float | None) -> None:
        """Raise BelowQualityFloor when a floor is set and this slice does not reach it."""
        if min_psnr is None or self.psnr is None or self.psnr >= min_psnr:
            return
        raise BelowQualityFloor(
            f"PSNR {self.psnr:.2f} dB is below the job's floor of {min_psnr:g} dB "
            f"(max abs error {self.max_abs_error}): ask for a lower rate or a lower min_psnr"
        )


LOSSLESS = Quality(psnr=None, max_abs_error=0)


def measure(original: Pixels, codestream: bytes, bits_stored: int) -> Quality:
    """Decode `codestream` and compare it with `original`; peak = 2**bits_stored - 1."""
    meter = QualityMeter(bits_stored)
    meter.add(original, codestream)
    return meter.result()


class QualityMeter:
    """The quality of a multi-frame object: PSNR over all its frames' pixels, added one frame
    at a time (so only one decoded frame is held), and the largest error of any frame."""

    def __init__(self, bits_stored: int) -> None:
        self.bits_stored = bits_stored
        self.squared_error = 0
        self.pixels = 0
        self.max_abs_error = 0

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

    def result(self) -> Quality:
        if self.max_abs_error == 0:
            return LOSSLESS
        mse = self.squared_error / self.pixels
        peak = float(2**self.bits_stored - 1)
        return Quality(psnr=10.0 * math.log10(peak * peak / mse), max_abs_error=self.max_abs_error)
