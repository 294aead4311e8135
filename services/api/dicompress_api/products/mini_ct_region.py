"""A Mini CT's region, from what was asked to the contract's indexes. Pure.

Slice indexes count the series' slices in anatomical order (`studies.summary.series_geometry`,
the order GET /studies/{id}/series/{uid} lists and the compressor lays slices out in), so index
i is the i-th `slices` entry there (images without a position come last there and are never
part of a region). Millimetres along the slice normal select the slices whose position lies in
[zStart, zEnd] (within `Z_TOLERANCE_MM`). A region is one volume: a range holding an image in
another plane (a localizer stored in the series) is refused, a range beside it is not.

A box in millimetres (`MillimetreBox`) is turned into pixels on one slice: the one of the range
nearest its centre along the normal. For an axial or oblique stack every slice has the same
in-plane origin, so the box is the same on each; a gantry-tilted stack's origins move along the
table from slice to slice, so the box is exact on that slice and follows the stored pixel grid
(not the patient) on the others, as a pixel box does.

Whatever cannot be made is refused with the valid range: indexes and millimetres for Z, rows and
columns (and the slice's size in mm) in-plane.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from dicompress_api.products.mini_ct_models import MiniCtRequest, PixelBox
from dicompress_api.studies.summary import ORIENTATION_TOLERANCE, PixelFacts, SeriesGeometry
from dicompress_api.web.errors import ApiError
from dicompress_schemas.geometry import Orientation, Vector, slice_normal
from dicompress_schemas.products import RoiBox

Z_TOLERANCE_MM = 0.01  # IPP is rounded by scanners (dicompress_schemas.geometry)
_EDGE = 1e-6  # a pixel centre on the box's edge is inside it, whatever the float rounding


class RegionRefused(ApiError):
    """The region cannot be made from this series; the message gives the valid range."""


class NotARegionSource(ApiError):
    """The series has no regular geometry to take a region of (no positions, a mixed stack)."""


@dataclass(frozen=True)
class Region:
    z_start: int
    z_end: int
    roi: RoiBox | None
    first_mm: float
    last_mm: float


@dataclass(frozen=True)
class _Stack:
    positions: tuple[float, ...]  # along the normal, ascending
    origins: tuple[Vector, ...]  # ImagePositionPatient of each slice
    in_plane: tuple[bool, ...]  # whether each slice has the series' orientation
    orientation: Orientation
    rows: int
    columns: int
    spacing: tuple[float, float] | None  # (between rows, between columns), mm

    def z_range(self) -> str:
        return (
            f"0..{len(self.positions) - 1} "
            f"(or {self.positions[0]:.2f}..{self.positions[-1]:.2f} mm)"
        )


def region_of(request: MiniCtRequest, geometry: SeriesGeometry, facts: PixelFacts) -> Region:
    """The indexes of the region `request` names in this series; RegionRefused (with the valid
    range) or NotARegionSource when there is none."""
    stack = _stack(geometry, facts)
    if request.z_unit == "index":
        z_start, z_end = _z_by_index(request, stack)
    else:
        z_start, z_end = _z_by_mm(request, stack)
    other = [i for i in range(z_start, z_end + 1) if not stack.in_plane[i]]
    if other:
        raise RegionRefused(
            f"slice {other[0]} is in another plane than the series (a localizer?): a region is "
            f"one volume, so give a range without it: valid {stack.z_range()}"
        )
    roi: RoiBox | None = None
    if request.roi is not None:
        roi = _pixel_roi(request.roi, stack, "roi")
    elif request.roi_mm is not None:
        center, size = request.roi_mm.center, request.roi_mm.size
        roi = _pixel_roi(_mm_box(center, size, stack, z_start, z_end), stack, "roiMm")
    _downsampled(roi, stack, request.downsample)
    return Region(z_start, z_end, roi, stack.positions[z_start], stack.positions[z_end])


def _stack(geometry: SeriesGeometry, facts: PixelFacts) -> _Stack:
    # Images without geometry are listed after the others: the slices with one keep indexes
    # 0..n-1 here, in the series listing and in the compressor's layout alike.
    placed = [s for s in geometry.slices if s.position is not None]
    if geometry.orientation is None or not placed:
        raise NotARegionSource("the series' images have no position: a region needs geometry")
    if facts.multi_frame or facts.rows is None or facts.columns is None:
        raise NotARegionSource(
            "the series is stored as multi-frame objects or without a common size: a Mini CT is "
            "taken from single-frame slices of one size"
        )
    # placed slices are those with geometry (position and orientation)
    geometries = [g for s in placed if (g := s.instance.geometry) is not None]
    return _Stack(
        positions=tuple(s.position for s in placed if s.position is not None),
        origins=tuple(g[0] for g in geometries),
        in_plane=tuple(_same_plane(g[1], geometry.orientation) for g in geometries),
        orientation=geometry.orientation,
        rows=facts.rows,
        columns=facts.columns,
        spacing=facts.pixel_spacing,
    )


def _z_by_index(request: MiniCtRequest, stack: _Stack) -> tuple[int, int]:
    last = len(stack.positions) - 1
    bounds = []
    for name, value, default in (("zStart", request.z_start, 0), ("zEnd", request.z_end, last)):
        if value is None:
            bounds.append(default)
            continue
        if not float(value).is_integer():
            raise RegionRefused(f"{name} {value:g} is no slice index: valid {stack.z_range()}")
        index = int(value)
        if index < 0:
            raise RegionRefused(f"{name} {index} is before the first slice: {stack.z_range()}")
        if index > last:
            raise RegionRefused(f"{name} {index} is past the last slice: {stack.z_range()}")
        bounds.append(index)
    start, end = bounds
    if end < start:
        raise RegionRefused(f"zEnd {end} is before zStart {start}: valid {stack.z_range()}")
    return start, end


def _z_by_mm(request: MiniCtRequest, stack: _Stack) -> tuple[int, int]:
    low = stack.positions[0] if request.z_start is None else request.z_start
    high = stack.positions[-1] if request.z_end is None else request.z_end
    if high < low:
        raise RegionRefused(f"zEnd {high:g} mm is below zStart {low:g} mm: valid {stack.z_range()}")
    inside = [
        i
        for i, p in enumerate(stack.positions)
        if low - Z_TOLERANCE_MM <= p <= high + Z_TOLERANCE_MM
    ]
    if not inside:
        raise RegionRefused(
            f"no slice lies between zStart {low:g} mm and zEnd {high:g} mm: valid {stack.z_range()}"
        )
    return inside[0], inside[-1]


def _mm_box(
    center: Vector, size: tuple[float, float], stack: _Stack, z_start: int, z_end: int
) -> PixelBox:
    """The pixel box whose pixel centres lie in the box (at least the one under `center`), on
    the slice of [z_start, z_end] nearest `center` along the normal."""
    if stack.spacing is None:
        raise NotARegionSource("the series has no PixelSpacing: give roi in pixels")
    width, height = size
    if width <= 0 or height <= 0:
        raise RegionRefused(f"roiMm size {width:g} x {height:g} mm is empty: give two sizes > 0")
    row_dir, column_dir, normal = _axes(stack.orientation)
    along = _dot(center, normal)
    nearest = min(range(z_start, z_end + 1), key=lambda i: abs(stack.positions[i] - along))
    offset = _minus(center, stack.origins[nearest])
    row_spacing, column_spacing = stack.spacing
    # pixel (r, c) is centred at IPP + c * column_spacing * row_dir + r * row_spacing * column_dir
    column = _dot(offset, row_dir) / column_spacing
    row = _dot(offset, column_dir) / row_spacing
    first_row, rows = _covered(row, height / row_spacing)
    first_column, columns = _covered(column, width / column_spacing)
    return PixelBox(row=first_row, column=first_column, rows=rows, columns=columns)


def _covered(center: float, extent: float) -> tuple[int, int]:
    """(first, count) of the integer pixel centres in [center - extent/2, center + extent/2]."""
    first = math.ceil(center - extent / 2 - _EDGE)
    last = math.floor(center + extent / 2 + _EDGE)
    if last < first:  # smaller than a pixel: the pixel under the centre
        first = last = math.floor(center + 0.5)
    return first, last - first + 1


def _pixel_roi(box: PixelBox, stack: _Stack, name: str) -> RoiBox:
    size = f"valid rows 0..{stack.rows - 1}, columns 0..{stack.columns - 1}"
    if stack.spacing is not None:
        size += (
            f" (a slice is {stack.columns} x {stack.rows} pixels, "
            f"{stack.columns * stack.spacing[1]:.1f} x {stack.rows * stack.spacing[0]:.1f} mm)"
        )
    if box.rows < 1 or box.columns < 1:
        raise RegionRefused(f"{name} of {box.rows} x {box.columns} pixels is empty: {size}")
    last_row, last_column = box.row + box.rows - 1, box.column + box.columns - 1
    if box.row < 0 or box.column < 0 or last_row >= stack.rows or last_column >= stack.columns:
        raise RegionRefused(
            f"{name} covers rows {box.row}..{last_row}, columns {box.column}..{last_column}, "
            f"outside the slice: {size}"
        )
    return RoiBox(row=box.row, column=box.column, rows=box.rows, columns=box.columns)


def _downsampled(roi: RoiBox | None, stack: _Stack, factor: int) -> None:
    rows, columns = (roi.rows, roi.columns) if roi is not None else (stack.rows, stack.columns)
    if rows < factor or columns < factor:
        raise RegionRefused(
            f"a region of {columns} x {rows} pixels downsampled {factor} x {factor} is empty: "
            f"give a box of at least {factor} x {factor} pixels or a smaller downsample"
        )


def _same_plane(a: Orientation, b: Orientation) -> bool:
    return all(abs(x - y) <= ORIENTATION_TOLERANCE for x, y in zip(a, b, strict=True))


def _axes(orientation: Orientation) -> tuple[Vector, Vector, Vector]:
    """Unit row and column directions, and the contract's normal (the one positions are on)."""
    row_dir = _unit((orientation[0], orientation[1], orientation[2]))
    column_dir = _unit((orientation[3], orientation[4], orientation[5]))
    return row_dir, column_dir, slice_normal(orientation)


def _unit(v: Vector) -> Vector:
    length = math.sqrt(_dot(v, v))
    return (v[0] / length, v[1] / length, v[2] / length)


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def _minus(a: Vector, b: Vector) -> Vector:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])
