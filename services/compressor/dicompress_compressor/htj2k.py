"""HTJ2K (JPEG 2000 Part 15) codestreams through imagecodecs' OpenJPH binding.

OpenJPH has no rate control: its only lossy knob is the base quantisation step (imagecodecs'
`level`, relative to the codestream's full range 2**precision). To compare fairly with JPEG 2000
at the same size, `calibrated_encode` searches the step for each slice: a first guess from the
bits per pixel wanted (fitted on CT), then secant steps on log(size) against
log(step) until the size is within `TOLERANCE` of the target. An encode costs 1-3 ms at 512x512,
and one to three of them are needed (measured on the synthetic CT, rates 5 to 500), so the search
keeps HTJ2K ~10x cheaper than one OpenJPEG encode. It always starts from the same guess, so the
same slice and rate give the same bytes in every process and on every retry.
"""

from __future__ import annotations

import math

import imagecodecs
import numpy as np
import numpy.typing as npt

TOLERANCE = 0.05  # accept a size within 5% of the target
MAX_ENCODES = 8
_MIN_STEP = 2e-5  # imagecodecs treats a level below 1e-5 as "reversible"
_MAX_STEP = 1.0
# fitted on the synthetic CT: 0.2 bits per pixel (rate 80) needs a step of ~262 stored units,
# and the step falls as bpp**-1.25 towards rate 10 but only as bpp**-0.8 towards rate 500
_REFERENCE_BPP, _REFERENCE_STEP = 0.2, 262.0
_EXPONENT_FINE, _EXPONENT_COARSE = 1.25, 0.8
_SLOPE_BOUNDS = (-3.0, -0.3)  # d log(size) / d log(step), kept sane between secant steps

Pixels = npt.NDArray[np.integer]


def available() -> bool:
    """Whether this imagecodecs build carries the HTJ2K codec."""
    return bool(imagecodecs.HTJ2K.available)


def encode_lossless(pixels: Pixels) -> bytes:
    """Reversible 5/3 wavelet, no quantisation: bit-exact."""
    return bytes(imagecodecs.htj2k_encode(pixels, reversible=True))


def encode_at_step(pixels: Pixels, step: float) -> bytes:
    """Irreversible 9/7 wavelet with base quantisation step `step` (relative to full range)."""
    return bytes(imagecodecs.htj2k_encode(pixels, level=step, reversible=False))


def calibrated_encode(pixels: Pixels, target_bytes: float) -> bytes:
    """The codestream whose size is nearest `target_bytes` among those the search tried."""
    full_range = float(2 ** (8 * pixels.dtype.itemsize))  # what OpenJPH declares as precision
    bpp = 8.0 * target_bytes / pixels.size
    exponent = _EXPONENT_FINE if bpp > _REFERENCE_BPP else _EXPONENT_COARSE
    step = _clamp(_REFERENCE_STEP * (_REFERENCE_BPP / bpp) ** exponent / full_range)
    slope = -1.0 / exponent
    best: bytes | None = None
    best_error = math.inf
    previous: tuple[float, float] | None = None  # (log step, log size error)
    for _ in range(MAX_ENCODES):
        data = encode_at_step(pixels, step)
        error = math.log(len(data) / target_bytes)
        if abs(error) < best_error:
            best, best_error = data, abs(error)
        if abs(error) <= math.log1p(TOLERANCE):
            break
        log_step = math.log(step)
        if previous is not None and log_step != previous[0]:
            measured = (error - previous[1]) / (log_step - previous[0])
            slope = min(max(measured, _SLOPE_BOUNDS[0]), _SLOPE_BOUNDS[1])
        previous = (log_step, error)
        next_step = _clamp(math.exp(log_step - error / slope))
        if next_step == step:
            break  # the target lies outside what the step range can reach
        step = next_step
    assert best is not None  # MAX_ENCODES >= 1
    return best


def _clamp(step: float) -> float:
    return min(max(step, _MIN_STEP), _MAX_STEP)
