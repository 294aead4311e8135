"""Binned geometry: the block centre is the mean of its pixels' centres, on any plane."""

from __future__ import annotations

import numpy as np
import pytest
from preview_series import AXIAL, normal, oblique, tilted

from dicompress_compressor.preview.geometry import (
    Plane,
    along_normal,
    binned_plane,
    binned_thickness,
    block_offset,
)


def _pixel_centre(plane: Plane, row: int, column: int) -> np.ndarray:
    """DICOM's own definition (PS3.3 C.7.6.2.1.1): IPP + column * dcol * rowdir + row * drow
    * coldir, with PixelSpacing = (drow, dcol)."""
    o = np.array(plane.orientation)
    return (
        np.array(plane.position)
        + column * plane.pixel_spacing[1] * o[:3]
        + row * plane.pixel_spacing[0] * o[3:]
    )


@pytest.mark.parametrize("orientation", [AXIAL, oblique(), tilted(20.0)], ids=str)
@pytest.mark.parametrize("k", [1, 2, 4])
def test_the_first_block_centre_is_the_mean_of_its_pixel_centres(
    orientation: tuple[float, ...], k: int
) -> None:
    plane = Plane((-12.5, 30.25, 101.0), orientation, (0.7, 0.9))  # type: ignore[arg-type]
    binned = binned_plane([plane], k)
    centres = [_pixel_centre(plane, r, c) for r in range(k) for c in range(k)]
    np.testing.assert_allclose(binned.position, np.mean(centres, axis=0), atol=1e-12)
    assert binned.pixel_spacing == pytest.approx((0.7 * k, 0.9 * k))
    # and every later block: binned pixel (i, j) is the mean of source block (i, j)
    block = [_pixel_centre(plane, 3 * k + r, 5 * k + c) for r in range(k) for c in range(k)]
    np.testing.assert_allclose(_pixel_centre(binned, 3, 5), np.mean(block, axis=0), atol=1e-9)


def test_the_offset_follows_the_row_and_column_directions() -> None:
    # rows run along +x with 0.8 mm between columns; columns along +y with 0.6 between rows
    assert block_offset(AXIAL, (0.6, 0.8), 2) == pytest.approx((0.4, 0.3, 0.0))
    assert block_offset(AXIAL, (0.6, 0.8), 4) == pytest.approx((1.2, 0.9, 0.0))
    assert block_offset(AXIAL, (0.6, 0.8), 1) == (0.0, 0.0, 0.0)


def test_a_z_group_lies_at_the_mean_of_its_positions_even_on_a_tilted_stack() -> None:
    orientation = tilted(15.0)
    # a gantry tilt: the table moves along z, the planes lean
    planes = [Plane((0.0, 0.0, -2.5 * i), orientation, (0.5, 0.5)) for i in range(4)]
    binned = binned_plane(planes, 1)
    assert binned.position == pytest.approx((0.0, 0.0, -3.75))
    distances = [along_normal(p) for p in planes]
    assert along_normal(binned) == pytest.approx(np.mean(distances))
    # the in-plane offset moves nothing along the normal
    assert along_normal(binned_plane(planes, 4)) == pytest.approx(np.mean(distances))
    n = np.array(normal(orientation))
    assert abs(n @ np.array(block_offset(orientation, (0.5, 0.5), 4))) < 1e-12


@pytest.mark.parametrize(
    ("thickness", "spacing", "m", "expected"),
    [
        (1.25, 1.25, 1, 1.25),
        (1.25, 1.25, 2, 2.5),  # contiguous: m x thickness
        (1.25, 1.25, 4, 5.0),
        (1.25, 0.625, 2, 1.875),  # overlapping reconstruction: its real extent
        (5.0, None, 2, 5.0),  # spacing unknown: left as it was
    ],
)
def test_binned_thickness(thickness: float, spacing: float | None, m: int, expected: float) -> None:
    assert binned_thickness(thickness, spacing, m) == pytest.approx(expected)
