"""Which window a thumbnail gets, and mapping modality values to grey through it (pure).

- `default`: the series' own WindowCenter/Width (the one its scanner or technologist chose),
  else the automatic one.
- `auto`: from the histogram of the body: the voxels above an Otsu threshold (air and the
  padding outside the body fall below it), from their 1st to their 99th percentile, widened
  by 10% on each side. Works on
  any grey scale, so it is also what a cone-beam CT without calibrated HU gets.
- `soft-tissue`, `bone`, `lung`: the contract's WINDOW_PRESETS, in HU: only meaningful when
  the values are calibrated HU; otherwise the automatic window, and the image says so
  (`fallback`).

MONOCHROME1 images (minimum shown white) are inverted after windowing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dicompress_schemas.products import WINDOW_PRESETS, Window

Grey = npt.NDArray[np.uint8]
_MIN_WIDTH = 1.0
_MARGIN = 0.1


@dataclass(frozen=True)
class AppliedWindow:
    center: float
    width: float
    fallback: str | None = None  # set when this is not the window asked for, and why


def choose_window(
    requested: Window,
    own: tuple[float, float] | None,
    calibrated_hu: bool,
    sample: npt.NDArray[np.float32],
) -> AppliedWindow:
    """The window to apply for `requested` (see the module's rules)."""
    if requested is Window.DEFAULT and own is not None:
        return AppliedWindow(own[0], own[1])
    if requested in WINDOW_PRESETS:
        if calibrated_hu:
            center, width = WINDOW_PRESETS[requested]
            return AppliedWindow(center, width)
        center, width = auto_window(sample)
        return AppliedWindow(
            center,
            width,
            f"this series has no calibrated Hounsfield units (a cone-beam CT, or no rescale): "
            f"the {requested.value} window does not apply, so an automatic window from its "
            "histogram was used",
        )
    center, width = auto_window(sample)
    return AppliedWindow(center, width)


def auto_window(sample: npt.NDArray[np.float32]) -> tuple[float, float]:
    """(center, width) spanning the 1st to the 99th percentile of the body's voxels."""
    values = sample[np.isfinite(sample)]
    if values.size == 0:
        return 0.0, _MIN_WIDTH
    threshold = otsu_threshold(values)
    body = values[values > threshold]
    if body.size < max(16, values.size // 1000):  # no body found: the whole range
        body = values
    low, high = (float(v) for v in np.percentile(body, [1.0, 99.0]))
    # 10% more on each side: the body's most common tissue often *is* the 1st percentile
    # (a uniform phantom, a lean patient's muscle), and it should be dark grey, not black.
    width = max((high - low) * (1 + 2 * _MARGIN), _MIN_WIDTH)
    return (low + high) / 2.0, width


def otsu_threshold(values: npt.NDArray[np.float32], bins: int = 256) -> float:
    """The grey level that best splits `values` into two classes (Otsu, 1979)."""
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return low
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    centres = (edges[:-1] + edges[1:]) / 2.0
    weight_low = np.cumsum(counts, dtype=np.float64)
    weight_high = weight_low[-1] - weight_low
    sums = np.cumsum(counts * centres, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_low = sums / weight_low
        mean_high = (sums[-1] - sums) / weight_high
        between = weight_low * weight_high * (mean_low - mean_high) ** 2
    between = np.nan_to_num(between, nan=-1.0)
    return float(edges[int(np.argmax(between)) + 1])


def to_grey(
    values: npt.NDArray[np.float32], center: float, width: float, invert: bool = False
) -> Grey:
    """Linear window: center - width/2 and below black, center + width/2 and above white
    (inverted for MONOCHROME1)."""
    low = center - width / 2.0
    scaled = (values - np.float32(low)) * np.float32(255.0 / width)
    grey: Grey = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    if invert:
        grey = np.subtract(255, grey, dtype=np.uint8)
    return grey
