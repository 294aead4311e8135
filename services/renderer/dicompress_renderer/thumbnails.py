"""Thumbnails: an oriented plane, windowed, scaled to a size with square pixels, encoded.

The plane's spacing is real millimetres (rows and columns may differ, e.g. 0.7 mm pixels and
2.5 mm slices on a coronal reformat): the output keeps the physical aspect, `size` pixels on
its long side, so pixels are square in mm. Scaling happens on the modality values (bilinear,
or Lanczos when shrinking) and the window afterwards, so the grey steps stay sharp.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from dicompress_renderer.reformat import OrientedPlane
from dicompress_renderer.windows import AppliedWindow, Grey, to_grey
from dicompress_schemas.products import ImageFormat

WEBP_QUALITY = 90  # lossy WebP: a preview; the PNG beside it is exact


@dataclass(frozen=True)
class EncodedImage:
    data: bytes
    width: int
    height: int


def output_size(plane: OrientedPlane, size: int) -> tuple[int, int]:
    """(width, height) with `size` on the long side and the plane's physical aspect."""
    scale = size / max(plane.width_mm, plane.height_mm)
    return max(1, round(plane.width_mm * scale)), max(1, round(plane.height_mm * scale))


def scaled_grey(
    plane: OrientedPlane, window: AppliedWindow, size: int, invert: bool = False
) -> Grey:
    """The plane at `size` on its long side, through `window` (inverted for MONOCHROME1)."""
    width, height = output_size(plane, size)
    shrinking = width < plane.values.shape[1] or height < plane.values.shape[0]
    resample = Image.Resampling.LANCZOS if shrinking else Image.Resampling.BILINEAR
    scaled = Image.fromarray(plane.values).resize((width, height), resample=resample)
    return to_grey(np.asarray(scaled, dtype=np.float32), window.center, window.width, invert)


def encode(pixels: Grey | npt.NDArray[np.uint8], fmt: ImageFormat) -> EncodedImage:
    """PNG (lossless) or WebP (lossy, quality 90) bytes of a grey (rows, columns) or colour
    (rows, columns, 3) image."""
    image = Image.fromarray(np.ascontiguousarray(pixels))
    buffer = io.BytesIO()
    if fmt is ImageFormat.PNG:
        image.save(buffer, format="PNG", optimize=False, compress_level=6)
    else:
        image.save(buffer, format="WEBP", quality=WEBP_QUALITY, method=4)
    return EncodedImage(buffer.getvalue(), image.width, image.height)
