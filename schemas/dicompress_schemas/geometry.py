"""Slice geometry of a CT series: the one definition every service orders slices by.

A series is ordered by each slice's ImagePositionPatient (IPP) projected on the slice normal,
the cross product of the row and column directions of ImageOrientationPatient (IOP). Not by file
name (exports use UIDs, `I10` or random hashes), not by InstanceNumber (some scanners number in
acquisition order, some restart per stack) and not by SliceLocation (optional, and its sign and
origin are the vendor's): those scrambled real series here. Compare positions, never another
library's volume index: highdicom's index 0 can be the last slice of a series.

Pure Python on purpose (no numpy, no pydicom): other teams read this contract package, and the
ingest, compressor and API must agree on the same order and spacing to the last bit.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

Vector = tuple[float, float, float]
"""A point or direction in the patient coordinate system (LPS, millimetres)."""

Orientation = tuple[float, float, float, float, float, float]
"""ImageOrientationPatient: the row direction cosines, then the column direction cosines."""

SPACING_TOLERANCE_MM = 0.01
"""Largest difference between the widest and the narrowest gap of a series still called uniform.

IPP is a decimal string (DS, at most 16 characters) that scanners round, typically to 0.001 or
0.01 mm, and a tilted or reformatted stack adds floating-point error when projected on the
normal: gaps of a regular 0.625 mm series come back as 0.6249999 and 0.6250001. One hundredth of
a millimetre absorbs that rounding yet is 1/50 of the thinnest CT slice (0.5 mm), so a missing
or doubled slice is never called uniform. highdicom makes the same choice with explicit
tolerances (a relative 1e-2 on spacing, 1e-5 on equality) rather than exact comparison.
"""

T = TypeVar("T")


class GeometryError(ValueError):
    """An orientation that defines no plane (a zero or parallel direction)."""


def _cross(a: Vector, b: Vector) -> Vector:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _dot(a: Vector, b: Vector) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def slice_normal(orientation: Orientation) -> Vector:
    """The unit normal of the slice plane: row direction x column direction, normalised.

    Its sign follows DICOM's right-handed convention, so positions along it grow from the first
    to the last slice of a stack acquired in that direction. Normalised because IOP values are
    rounded decimal strings whose vectors are only nearly unit length. Raises GeometryError for
    an orientation whose directions are zero or parallel (no plane, so no order).
    """
    row: Vector = (orientation[0], orientation[1], orientation[2])
    column: Vector = (orientation[3], orientation[4], orientation[5])
    normal = _cross(row, column)
    length = math.sqrt(_dot(normal, normal))
    if not math.isfinite(length) or length < 1e-6:
        raise GeometryError(f"ImageOrientationPatient {orientation} defines no slice plane")
    return (normal[0] / length, normal[1] / length, normal[2] / length)


def position_along_normal(position: Vector, orientation: Orientation) -> float:
    """The slice's distance along its normal (IPP . normal), in millimetres.

    This is the coordinate slices are ordered and spaced by; unlike SliceLocation it is defined
    for every slice with IPP and IOP, whatever the vendor.
    """
    return _dot(position, slice_normal(orientation))


@dataclass(frozen=True)
class SliceSpacing:
    """Gaps between neighbouring slices along the normal, in millimetres.

    uniform: max - min <= the tolerance used; a non-uniform series (a missing slice, two stacks
    merged, a variable-pitch protocol) must not be treated as a regular volume.
    """

    mean: float
    min: float
    max: float
    uniform: bool


def spacing_of(
    distances: Sequence[float], tolerance_mm: float = SPACING_TOLERANCE_MM
) -> SliceSpacing | None:
    """The spacing of slices at these distances along the normal (any order); None for < 2.

    The distances are sorted first, so callers may pass them in file or arrival order. Two slices
    at the same position give a gap of 0 (a duplicate), which makes the series non-uniform.
    """
    if len(distances) < 2:
        return None
    ordered = sorted(distances)
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    low, high = min(gaps), max(gaps)
    return SliceSpacing(
        mean=(ordered[-1] - ordered[0]) / len(gaps),
        min=low,
        max=high,
        uniform=high - low <= tolerance_mm,
    )


def gantry_tilt_deg(orientation: Orientation, first: Vector, last: Vector) -> float:
    """The angle in degrees between the slice normal and the line through first and last IPP.

    0 for a plain axial stack, where slices advance along their own normal; a CT acquired with a
    tilted gantry advances along the table while its planes lean, and a viewer must shear such a
    volume rather than stack it. The direction of travel does not matter (0..90, never 180).
    0.0 when first == last (a single slice has no line).
    """
    line: Vector = (last[0] - first[0], last[1] - first[1], last[2] - first[2])
    length = math.sqrt(_dot(line, line))
    if length == 0.0:
        return 0.0
    cosine = abs(_dot(line, slice_normal(orientation))) / length
    return math.degrees(math.acos(min(1.0, cosine)))


def sort_by_position(
    items: Sequence[T], position: Callable[[T], Vector], orientation: Orientation
) -> list[T]:
    """The items in ascending order of their position along the normal of `orientation`.

    One orientation for the whole series (that of its slices), so every item is projected on the
    same normal. Ties keep input order (a stable sort), so callers that pass items in a
    deterministic order get the same result on every run.
    """
    normal = slice_normal(orientation)
    return sorted(items, key=lambda item: _dot(position(item), normal))
