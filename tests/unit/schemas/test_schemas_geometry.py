"""The contract's slice geometry: normal, order, spacing and gantry tilt.

highdicom (a dev dependency) is the independent check of the normal's sign convention.
"""

from __future__ import annotations

import math

import pytest

from dicompress_schemas.geometry import (
    SPACING_TOLERANCE_MM,
    GeometryError,
    Orientation,
    SliceSpacing,
    Vector,
    gantry_tilt_deg,
    position_along_normal,
    slice_normal,
    sort_by_position,
    spacing_of,
)

AXIAL: Orientation = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
CORONAL: Orientation = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
SAGITTAL: Orientation = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


def _tilted(degrees: float) -> Orientation:
    """An axial orientation whose column direction leans by `degrees` about the x axis."""
    a = math.radians(degrees)
    return (1.0, 0.0, 0.0, 0.0, math.cos(a), -math.sin(a))


def _close(a: Vector, b: Vector) -> bool:
    return all(math.isclose(x, y, abs_tol=1e-9) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(
    ("orientation", "normal"),
    [
        (AXIAL, (0.0, 0.0, 1.0)),
        (CORONAL, (0.0, 1.0, 0.0)),
        (SAGITTAL, (-1.0, 0.0, 0.0)),
    ],
)
def test_normal_is_row_cross_column(orientation: Orientation, normal: Vector) -> None:
    assert _close(slice_normal(orientation), normal)


@pytest.mark.parametrize("orientation", [AXIAL, CORONAL, SAGITTAL, _tilted(17.0)])
def test_normal_agrees_with_highdicom(orientation: Orientation) -> None:
    spatial = pytest.importorskip("highdicom.spatial")
    theirs = tuple(float(v) for v in spatial.get_normal_vector(list(orientation)))
    assert _close(slice_normal(orientation), (theirs[0], theirs[1], theirs[2]))


def test_normal_is_normalised_from_rounded_cosines() -> None:
    # IOP as a scanner writes it: decimal strings rounded to 6 places
    normal = slice_normal((0.999999, 0.001234, 0.0, -0.001234, 0.999999, 0.0))
    assert math.isclose(math.sqrt(sum(v * v for v in normal)), 1.0, rel_tol=1e-12)


@pytest.mark.parametrize(
    "orientation",
    [(0.0, 0.0, 0.0, 0.0, 1.0, 0.0), (1.0, 0.0, 0.0, 1.0, 0.0, 0.0), (math.nan, 0, 0, 0, 1, 0)],
)
def test_an_orientation_without_a_plane_is_refused(orientation: Orientation) -> None:
    with pytest.raises(GeometryError, match="no slice plane"):
        slice_normal(orientation)


def test_position_along_normal_ignores_in_plane_offsets() -> None:
    assert position_along_normal((-250.0, 13.0, -42.5), AXIAL) == -42.5
    assert position_along_normal((7.0, 30.0, 99.0), CORONAL) == 30.0


def test_sort_by_position_is_along_the_normal_not_by_name_or_number() -> None:
    # file names and instance numbers that disagree with anatomy, as exports give them
    slices = [
        ("c3f1.dcm", 1, (0.0, 0.0, 60.7)),
        ("0a9b.dcm", 2, (0.0, 0.0, 5.8)),
        ("ffee.dcm", 3, (0.0, 0.0, 150.4)),
        ("1234.dcm", 4, (0.0, 0.0, 52.3)),
    ]
    ordered = sort_by_position(slices, lambda s: s[2], AXIAL)
    assert [s[2][2] for s in ordered] == [5.8, 52.3, 60.7, 150.4]


def test_sort_by_position_of_a_coronal_series_uses_y() -> None:
    positions: list[Vector] = [(0.0, 3.0, 10.0), (0.0, 1.0, 30.0), (0.0, 2.0, 20.0)]
    assert sort_by_position(positions, lambda p: p, CORONAL) == [
        (0.0, 1.0, 30.0),
        (0.0, 2.0, 20.0),
        (0.0, 3.0, 10.0),
    ]


def test_sort_by_position_keeps_input_order_on_ties() -> None:
    items = [("b", 1.0), ("a", 1.0), ("c", 0.0), ("d", 1.0)]
    ordered = sort_by_position(items, lambda i: (0.0, 0.0, i[1]), AXIAL)
    assert [i[0] for i in ordered] == ["c", "b", "a", "d"]


def test_sort_by_position_agrees_with_highdicom_on_a_tilted_stack() -> None:
    spatial = pytest.importorskip("highdicom.spatial")
    orientation = _tilted(20.0)
    normal = slice_normal(orientation)
    # a tilted-gantry stack: planes lean, the table moves along z; shuffled input
    positions: list[Vector] = [(0.0, 0.0, 2.5 * k) for k in (7, 2, 9, 0, 4, 1, 8, 3, 6, 5)]
    ours = sort_by_position(list(range(len(positions))), lambda i: positions[i], orientation)
    theirs = spatial.get_plane_sort_index([list(p) for p in positions], list(orientation))
    # compare positions, not indexes: highdicom's order may run the other way
    ours_d = [position_along_normal(positions[i], orientation) for i in ours]
    theirs_d = [position_along_normal(positions[i], orientation) for i in theirs]
    assert sorted(theirs_d) == ours_d
    assert ours_d == sorted(ours_d)
    assert ours_d[1] - ours_d[0] == pytest.approx(2.5 * normal[2])


def test_spacing_of_fewer_than_two_slices_is_none() -> None:
    assert spacing_of([]) is None
    assert spacing_of([12.5]) is None


def test_spacing_of_a_regular_series_in_any_order() -> None:
    spacing = spacing_of([2.5, 0.0, 1.25, 3.75, 5.0][::-1])
    assert spacing == SliceSpacing(mean=1.25, min=1.25, max=1.25, uniform=True)


def test_spacing_absorbs_decimal_rounding_within_the_tolerance() -> None:
    # 0.625 mm slices as DS values rounded to the micrometre
    distances = [round(0.625 * k + (0.0004 if k % 2 else -0.0004), 4) for k in range(40)]
    spacing = spacing_of(distances)
    assert spacing is not None
    assert spacing.uniform
    assert spacing.mean == pytest.approx(0.625, abs=1e-4)
    assert spacing.max - spacing.min <= SPACING_TOLERANCE_MM


def test_a_missing_slice_makes_the_spacing_non_uniform() -> None:
    spacing = spacing_of([0.0, 0.5, 1.0, 2.0, 2.5])
    assert spacing is not None
    assert (spacing.min, spacing.max, spacing.uniform) == (0.5, 1.0, False)
    assert spacing.mean == pytest.approx(0.625)


def test_a_duplicate_position_makes_the_spacing_non_uniform() -> None:
    spacing = spacing_of([0.0, 1.0, 1.0, 2.0])
    assert spacing is not None
    assert spacing.min == 0.0
    assert not spacing.uniform


def test_spacing_tolerance_can_be_given() -> None:
    spacing = spacing_of([0.0, 1.0, 2.05], tolerance_mm=0.1)
    assert spacing is not None
    assert spacing.uniform


def test_gantry_tilt_of_a_plain_axial_stack_is_zero() -> None:
    assert gantry_tilt_deg(AXIAL, (0.0, 0.0, -100.0), (0.0, 0.0, 100.0)) == 0.0
    # the direction of travel does not matter
    assert gantry_tilt_deg(AXIAL, (0.0, 0.0, 100.0), (0.0, 0.0, -100.0)) == 0.0


@pytest.mark.parametrize("degrees", [5.0, 15.0, 30.0])
def test_gantry_tilt_of_a_tilted_stack(degrees: float) -> None:
    tilt = gantry_tilt_deg(_tilted(degrees), (0.0, 0.0, 0.0), (0.0, 0.0, 200.0))
    assert tilt == pytest.approx(degrees, abs=1e-9)


def test_gantry_tilt_of_a_single_position_is_zero() -> None:
    assert gantry_tilt_deg(_tilted(12.0), (1.0, 2.0, 3.0), (1.0, 2.0, 3.0)) == 0.0
