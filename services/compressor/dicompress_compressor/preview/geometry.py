"""Where a binned (and maybe cropped) slice lies: its plane moved to the centre of its first
block, its Z-group's mean position, its spacing and thickness. Pure Python on the contract's
geometry types.

ImagePositionPatient is the centre of the first stored pixel. The first k x k block's centre
is (k-1)/2 pixels further along both in-plane directions:

    IPP' = IPP + (k-1)/2 * PixelSpacing[1] * rowdir + (k-1)/2 * PixelSpacing[0] * coldir

where rowdir = IOP[0:3] is the direction of increasing column index (its step is the column
spacing, PixelSpacing[1]) and coldir = IOP[3:6] that of increasing row index (PixelSpacing[0]).
A crop starting at pixel (row0, col0) moves the first pixel's centre by whole pixels first:

    IPP' = IPP + col0 * PixelSpacing[1] * rowdir + row0 * PixelSpacing[0] * coldir

(the Mini CT's region; the block offset then applies from there).
A Z-group's position is the mean of its slices' positions: on a gantry-tilted stack that point
lies on the table's line of travel and on an oblique one on the stack's own axis, as every
slice's does, so no case needs its own formula.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dicompress_schemas.geometry import Orientation, Vector, position_along_normal

PixelSpacing = tuple[float, float]
"""(row spacing, column spacing) in mm: PixelSpacing[0] between rows, [1] between columns."""


@dataclass(frozen=True)
class Plane:
    """One slice's plane: where its first pixel's centre is and how its pixels are laid out."""

    position: Vector
    orientation: Orientation
    pixel_spacing: PixelSpacing


def mean_position(positions: Sequence[Vector]) -> Vector:
    n = len(positions)
    if n == 0:
        raise ValueError("no positions to average")
    return (
        sum(p[0] for p in positions) / n,
        sum(p[1] for p in positions) / n,
        sum(p[2] for p in positions) / n,
    )


def in_plane_offset(
    orientation: Orientation, pixel_spacing: PixelSpacing, rows: float, columns: float
) -> Vector:
    """From the first pixel's centre to the point `rows` rows down and `columns` columns
    across (fractions allowed), in mm (LPS)."""
    along_row = columns * pixel_spacing[1]
    along_column = rows * pixel_spacing[0]
    return (
        along_row * orientation[0] + along_column * orientation[3],
        along_row * orientation[1] + along_column * orientation[4],
        along_row * orientation[2] + along_column * orientation[5],
    )


def block_offset(orientation: Orientation, pixel_spacing: PixelSpacing, k: int) -> Vector:
    """From the first pixel's centre to the first k x k block's centre, in mm (LPS)."""
    return in_plane_offset(orientation, pixel_spacing, (k - 1) / 2, (k - 1) / 2)


def binned_plane(group: Sequence[Plane], k: int, crop: tuple[int, int] = (0, 0)) -> Plane:
    """The plane of the slice cropped from pixel `crop` = (row0, col0) on, then binned k x k,
    from `group` (one Z-group, same orientation and pixel spacing: the first slice's are
    used)."""
    first = group[0]
    centre = mean_position([p.position for p in group])
    # the crop's whole pixels and the block's half pixels, in one offset
    offset = in_plane_offset(
        first.orientation,
        first.pixel_spacing,
        crop[0] + (k - 1) / 2,
        crop[1] + (k - 1) / 2,
    )
    position = (centre[0] + offset[0], centre[1] + offset[1], centre[2] + offset[2])
    spacing = (first.pixel_spacing[0] * k, first.pixel_spacing[1] * k)
    return Plane(position, first.orientation, spacing)


def along_normal(plane: Plane) -> float:
    """The plane's distance along its normal: the order of the preview's slices. The in-plane
    offset is perpendicular to the normal, so this is the mean of the group's distances."""
    return position_along_normal(plane.position, plane.orientation)


def binned_thickness(thickness: float, spacing: float | None, m: int) -> float:
    """SliceThickness of the mean of m slices `spacing` apart: the slab from the first slice's
    lower face to the last one's upper face, (m - 1) * spacing + thickness. For contiguous
    slices (spacing = thickness) that is m * thickness; for overlapping reconstructions
    (0.625 mm apart, 1.25 mm thick) it is the true extent, not m times either."""
    if m == 1 or spacing is None:
        return thickness
    return (m - 1) * spacing + thickness
