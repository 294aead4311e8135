"""Planes of a volume oriented for display (pure numpy).

Every view is defined in patient coordinates (DICOM LPS: +x the patient's left, +y posterior,
+z superior), never by array axes, so any acquisition (axial, coronal, sagittal, oblique, with
rows and columns either way round) comes out the same way up:

- key (axial): seen from the feet, the radiological convention: anterior at the top, the
  patient's left on the image's right;
- coronal: seen from the front, superior at the top, the patient's left on the right;
- sagittal: seen from the patient's left, superior at the top, anterior on the left;
- anterior (the snapshot's fallback): the coronal view as a maximum-intensity projection.

The plane is cut across the volume's axis most parallel to the view's normal, through the
volume's centre (the key image: the slice nearest the middle of the series by position), then
transposed and flipped so that its rows run down and its columns right on screen, each as the
view wants, decided from ImageOrientationPatient. Slices unevenly spaced are resampled to even
steps first, so a reformat never stretches a gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from dicompress_renderer.volume import Volume
from dicompress_schemas.geometry import Vector
from dicompress_schemas.products import ThumbnailView

Plane = npt.NDArray[np.float32]

# view -> (its normal, screen right, screen down), in LPS
VIEWS: dict[ThumbnailView, tuple[Vector, Vector, Vector]] = {
    ThumbnailView.KEY: ((0.0, 0.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    ThumbnailView.CORONAL: ((0.0, 1.0, 0.0), (1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    ThumbnailView.SAGITTAL: ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
    ThumbnailView.ANTERIOR: ((0.0, 1.0, 0.0), (1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
}


@dataclass(frozen=True)
class OrientedPlane:
    """values[r, c]: r runs down the screen, c right; row_mm/column_mm: their spacings."""

    values: Plane
    row_mm: float
    column_mm: float

    @property
    def height_mm(self) -> float:
        return float(self.values.shape[0] * self.row_mm)

    @property
    def width_mm(self) -> float:
        return float(self.values.shape[1] * self.column_mm)


def oriented_plane(
    volume: Volume, view: ThumbnailView, reduce: Literal["centre", "max"] = "centre"
) -> OrientedPlane:
    """The plane of `view` through the volume's centre (or its maximum-intensity projection)."""
    normal, right, down = VIEWS[view]
    directions = (volume.normal, volume.column_direction, volume.row_direction)
    spacings = [volume.slice_spacing, volume.row_spacing, volume.column_spacing]
    through = max(range(3), key=lambda axis: abs(_dot(directions[axis], normal)))
    voxels = volume.voxels
    if reduce == "max":
        cut = np.asarray(voxels.max(axis=through), dtype=np.float32)
    else:
        index = _middle_slice(volume) if through == 0 else voxels.shape[through] // 2
        cut = np.asarray(np.take(voxels, index, axis=through), dtype=np.float32)
    first, second = (axis for axis in range(3) if axis != through)
    if first == 0 and not volume.uniform:  # the slice axis lies in the plane: even steps
        cut = resample_rows(cut, np.asarray(volume.positions), volume.slice_spacing)
    straight = abs(_dot(directions[first], down)) + abs(_dot(directions[second], right))
    crossed = abs(_dot(directions[first], right)) + abs(_dot(directions[second], down))
    if crossed > straight:
        cut, first, second = cut.T, second, first
    if _dot(directions[first], down) < 0:
        cut = cut[::-1, :]
    if _dot(directions[second], right) < 0:
        cut = cut[:, ::-1]
    return OrientedPlane(np.ascontiguousarray(cut), spacings[first], spacings[second])


def resample_rows(plane: Plane, positions: npt.NDArray[np.float64], step: float) -> Plane:
    """Rows at `positions` (ascending, mm) linearly resampled to even `step`s from the first.
    A row is anything along the first axis: a plane's row, or a volume's slice (the snapshot's
    volume of a series with a gap)."""
    count = max(2, round((positions[-1] - positions[0]) / step) + 1)
    targets = positions[0] + np.arange(count) * step
    below = np.clip(np.searchsorted(positions, targets, side="right") - 1, 0, len(positions) - 2)
    gap = positions[below + 1] - positions[below]
    weight = np.clip((targets - positions[below]) / gap, 0.0, 1.0).astype(np.float32)
    weight = weight.reshape((-1,) + (1,) * (plane.ndim - 1))  # one weight per row, broadcast
    resampled: Plane = plane[below] * (1 - weight) + plane[below + 1] * weight
    return resampled.astype(np.float32)


def _middle_slice(volume: Volume) -> int:
    """The slice nearest the middle of the series by position (not by index: gaps vary)."""
    positions = np.asarray(volume.positions)
    middle = (positions[0] + positions[-1]) / 2.0
    return int(np.argmin(np.abs(positions - middle)))


def _dot(a: Vector, b: Vector) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
