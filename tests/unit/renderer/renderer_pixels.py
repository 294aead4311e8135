"""Helpers of the renderer's unit tests: a phantom series as a Volume, images as arrays."""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
from PIL import Image
from renderer_phantom import PhantomSpec, series

from dicompress_renderer.instances import read_image
from dicompress_renderer.volume import Volume, VolumeBuilder


def phantom_volume(spec: PhantomSpec, bin_xy: int = 1) -> Volume:
    objects = series(spec)
    builder = VolumeBuilder(expected=len(objects))
    for i, data in enumerate(objects):
        image = read_image(data, bin_xy, f"IM{i}")
        assert image is not None
        builder.add(image)
    return builder.build()


def pixels(data: bytes) -> npt.NDArray[np.float64]:
    """An encoded image as grey values (rows, columns); colour averaged to luminance."""
    image = Image.open(io.BytesIO(data))
    array = np.asarray(image.convert("RGB"), dtype=np.float64)
    return array.mean(axis=2)


def at(image: npt.NDArray[np.float64], down: float, right: float, half: int = 2) -> float:
    """Mean grey of a small patch at (down, right) fractions of the image's height and width."""
    rows, columns = image.shape
    r, c = round(down * (rows - 1)), round(right * (columns - 1))
    return float(image[max(0, r - half) : r + half + 1, max(0, c - half) : c + half + 1].mean())
