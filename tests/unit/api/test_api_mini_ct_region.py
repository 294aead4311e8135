"""A Mini CT's region from what was asked: slice indexes or millimetres along the normal, a pixel
box or a box in millimetres around a patient point, on axial, oblique and gantry-tilted series
(pure: no app, no index)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from dicompress_api.products.mini_ct_models import MiniCtRequest
from dicompress_api.products.mini_ct_region import (
    NotARegionSource,
    Region,
    RegionRefused,
    region_of,
)
from dicompress_api.studies.summary import IndexedInstance, pixel_facts, series_geometry
from dicompress_schemas import ImageHeader
from dicompress_schemas.geometry import Vector
from dicompress_schemas.products import RoiBox

ROWS, COLUMNS = 200, 160
SPACING = (0.5, 0.75)  # between rows, between columns (mm)
GAP = 2.5  # between slices, mm
# An oblique plane: orthonormal row and column directions, and their cross product.
ROW: Vector = (0.8, 0.6, 0.0)
COLUMN: Vector = (-0.36, 0.48, 0.8)
NORMAL: Vector = (0.48, -0.64, 0.6)
ORIGIN: Vector = (-40.0, 12.5, 101.0)


def _add(*terms: tuple[float, Vector]) -> Vector:
    return (
        sum(k * v[0] for k, v in terms),
        sum(k * v[1] for k, v in terms),
        sum(k * v[2] for k, v in terms),
    )


def _dot(a: Vector, b: Vector) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _series(origins: list[Vector], row: Vector = ROW, column: Vector = COLUMN) -> Any:
    """Instances at these origins, stored in a shuffled order (numbers say nothing)."""
    numbers = list(range(1, len(origins) + 1))
    random.Random(7).shuffle(numbers)  # noqa: S311 - a fixed test order
    images = [
        IndexedInstance(
            sop_instance_uid=f"1.2.3.{n}",
            series_instance_uid="1.2.3",
            kind="image",
            sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
            transfer_syntax_uid="1.2.840.10008.1.2.1",
            modality="CT",
            key=f"t/studies/1/1.2.3/1.2.3.{n}.dcm",
            bytes=1000,
            member=f"IM{n}",
            header=ImageHeader(
                rows=ROWS,
                columns=COLUMNS,
                pixel_spacing=SPACING,
                image_orientation=(*row, *column),
                image_position=origin,
                instance_number=n,
                bits_allocated=16,
                bits_stored=12,
                pixel_representation=0,
                photometric_interpretation="MONOCHROME2",
            ),
        )
        for n, origin in zip(numbers, origins, strict=True)
    ]
    geometry = series_geometry(images)
    return geometry, pixel_facts(geometry.slices)


def _oblique(slices: int = 20) -> Any:
    return _series([_add((1, ORIGIN), (k * GAP, NORMAL)) for k in range(slices)])


def _region(series: Any, **body: Any) -> Region:
    geometry, facts = series
    return region_of(MiniCtRequest.model_validate(body), geometry, facts)


def _pixel_centre(origin: Vector, row: float, column: float) -> Vector:
    return _add((1, origin), (column * SPACING[1], ROW), (row * SPACING[0], COLUMN))


def test_indexes_count_slices_in_anatomical_order_and_default_to_the_whole_series() -> None:
    series = _oblique()
    base = _dot(ORIGIN, NORMAL)
    whole = _region(series)
    assert (whole.z_start, whole.z_end, whole.roi) == (0, 19, None)
    assert whole.first_mm == pytest.approx(base)
    assert whole.last_mm == pytest.approx(base + 19 * GAP)
    part = _region(series, zStart=4, zEnd=9, roi={"row": 1, "column": 2, "rows": 3, "columns": 4})
    assert (part.z_start, part.z_end) == (4, 9)
    assert part.roi == RoiBox(row=1, column=2, rows=3, columns=4)


def test_millimetres_on_an_oblique_series_name_the_same_region_as_indexes() -> None:
    series = _oblique()
    base = _dot(ORIGIN, NORMAL)
    # the box of rows 40..59, columns 30..45, whose centre is on slice 7
    origin = _add((1, ORIGIN), (7 * GAP, NORMAL))
    centre = _pixel_centre(origin, 40 + 9.5, 30 + 7.5)
    by_mm = _region(
        series,
        zUnit="mm",
        zStart=base + 5 * GAP - 1.0,  # between slices 4 and 5: slice 5 is the first inside
        zEnd=base + 12 * GAP,  # on slice 12
        roiMm={"center": centre, "size": [16 * SPACING[1], 20 * SPACING[0]]},
    )
    by_index = _region(
        series, zStart=5, zEnd=12, roi={"row": 40, "column": 30, "rows": 20, "columns": 16}
    )
    assert by_mm == by_index
    # a box smaller than a pixel is the pixel under its centre
    tiny = _region(
        series, zUnit="mm", roiMm={"center": _pixel_centre(origin, 3.2, 4.4), "size": [0.1, 0.1]}
    )
    assert tiny.roi == RoiBox(row=3, column=4, rows=1, columns=1)


def test_a_box_in_millimetres_on_a_gantry_tilted_series_is_placed_on_its_nearest_slice() -> None:
    # Tilted planes (row x, column leaning in y-z) whose origins advance along the table (z):
    # a patient point is at a different pixel on each slice.
    row: Vector = (1.0, 0.0, 0.0)
    column: Vector = (0.0, 0.9659258262890683, -0.25881904510252074)  # 15 degrees
    origins = [(-50.0, -60.0, 3.0 * k) for k in range(12)]
    series = _series(origins, row, column)
    geometry, _ = series
    assert geometry.gantry_tilt_deg == pytest.approx(15.0)
    centre = _add((1, origins[9]), (20 * SPACING[1], row), (30 * SPACING[0], column))
    box = _region(series, roiMm={"center": centre, "size": [1.5, 1.0]}).roi
    assert box == RoiBox(row=29, column=19, rows=3, columns=3)  # centred on (30, 20) of slice 9


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"zEnd": 450}, "zEnd 450 is past the last slice: 0..19 (or "),
        ({"zStart": -1}, "zStart -1 is before the first slice: 0..19"),
        ({"zStart": 5, "zEnd": 4}, "zEnd 4 is before zStart 5"),
        ({"zStart": 2.5}, "zStart 2.5 is no slice index"),
        ({"zUnit": "mm", "zStart": 1000, "zEnd": 1010}, "no slice lies between zStart 1000"),
        ({"zUnit": "mm", "zStart": 10, "zEnd": 0}, "zEnd 0 mm is below zStart 10 mm"),
        (
            {"roi": {"row": 190, "column": 0, "rows": 20, "columns": 5}},
            "roi covers rows 190..209, columns 0..4, outside the slice: valid rows 0..199, "
            "columns 0..159 (a slice is 160 x 200 pixels, 120.0 x 100.0 mm)",
        ),
        ({"roi": {"row": 0, "column": 0, "rows": 0, "columns": 5}}, "roi of 0 x 5 pixels is empty"),
        ({"roiMm": {"center": ORIGIN, "size": [10, 0]}}, "roiMm size 10 x 0 mm is empty"),
        (
            {"roiMm": {"center": ORIGIN, "size": [10, 10]}},  # around pixel (0, 0)
            "roiMm covers rows -10..10, columns -6..6, outside the slice",
        ),
        (
            {"roi": {"row": 0, "column": 0, "rows": 3, "columns": 9}, "downsample": 4},
            "a region of 9 x 3 pixels downsampled 4 x 4 is empty",
        ),
    ],
)
def test_what_is_not_in_the_series_is_refused_with_the_valid_range(
    body: dict[str, Any], detail: str
) -> None:
    with pytest.raises(RegionRefused) as refused:
        _region(_oblique(), **body)
    assert detail in str(refused.value)


def test_a_region_is_one_stack_of_slices_with_geometry() -> None:
    flat = _series([ORIGIN, ORIGIN], row=ROW, column=ROW)  # no plane: no geometry at all
    with pytest.raises(NotARegionSource, match="no position"):
        region_of(MiniCtRequest(), *flat)
    # three oblique slices and an axial localizer between the first two along their normal
    stack = _series([_add((1, ORIGIN), (k * GAP, NORMAL)) for k in range(3)])
    localizer = _series(
        [_add((1, ORIGIN), (GAP / 2, NORMAL))], row=(1.0, 0.0, 0.0), column=(0.0, 1.0, 0.0)
    )
    merged = series_geometry([s.instance for s in (*stack[0].slices, *localizer[0].slices)])
    facts = pixel_facts(merged.slices)
    with pytest.raises(RegionRefused, match="slice 1 is in another plane"):
        region_of(MiniCtRequest(), merged, facts)
    after = region_of(MiniCtRequest(z_start=2), merged, facts)
    assert (after.z_start, after.z_end) == (2, 3)  # slices 1 and 2 of the stack


def test_a_request_names_its_region_one_way() -> None:
    with pytest.raises(ValueError, match="not both"):
        MiniCtRequest.model_validate(
            {
                "roi": {"row": 0, "column": 0, "rows": 1, "columns": 1},
                "roiMm": {"center": [0, 0, 0], "size": [1, 1]},
            }
        )
    with pytest.raises(ValueError, match="preset or a codec"):
        MiniCtRequest.model_validate({"preset": "rate10", "rate": 5})
