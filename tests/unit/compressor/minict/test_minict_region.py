"""The pure pieces a Mini CT adds to the preview's: the crop's offset in the plane, the slice
range of the plan, the box checked against the slices, the identical values of k 1."""

from __future__ import annotations

import numpy as np
import pytest
from tests.unit.compressor.preview.preview_series import SeriesSpec, laid_out, series_files, tilted

from dicompress_compressor.minict.region import region_crop
from dicompress_compressor.preview.binning import Padding, StoredRange, bin_stored
from dicompress_compressor.preview.dataset import Crop
from dicompress_compressor.preview.geometry import Plane, binned_plane
from dicompress_compressor.preview.plan import PlanRefused, plan_groups, select_range
from dicompress_schemas import Codec
from dicompress_schemas.products import MiniCtParams, RoiBox


def test_a_crop_moves_the_first_pixel_by_whole_pixels_along_the_rows_and_columns() -> None:
    orientation = tilted(15.0)
    plane = Plane((1.0, 2.0, 3.0), orientation, (0.5, 0.25))
    row, column = np.array(orientation[:3]), np.array(orientation[3:])
    moved = binned_plane([plane], 1, (10, 4))
    np.testing.assert_allclose(
        moved.position, np.array([1.0, 2.0, 3.0]) + 4 * 0.25 * row + 10 * 0.5 * column
    )
    binned = binned_plane([plane], 2, (10, 4))  # then half a block further each way
    np.testing.assert_allclose(
        binned.position, np.array(moved.position) + 0.5 * 0.25 * row + 0.5 * 0.5 * column
    )
    assert binned.pixel_spacing == (1.0, 0.5)


def test_the_plan_takes_the_slice_range_in_anatomical_order() -> None:
    layout = laid_out(series_files(SeriesSpec(n=6, size=64)))
    (series,) = layout.series
    plan = plan_groups(series, layout.slices, 1, (2, 4))
    assert [g.index for g in plan.groups] == [0, 1, 2]
    assert [g.first for g in plan.groups] == layout.slices[2:5]
    with pytest.raises(PlanRefused, match="ask for a range from 0 to 5"):
        select_range(layout.slices, (4, 6))


@pytest.mark.parametrize(
    ("roi", "downsample", "words"),
    [
        (RoiBox(row=0, column=60, rows=40, columns=40), 1, "columns between 0 and 63"),
        (RoiBox(row=0, column=0, rows=1, columns=1), 2, "smaller than one 2 x 2 block"),
        (RoiBox(row=0, column=0, rows=40, columns=40), 2, "too small for JPEG 2000"),
    ],
)
def test_a_box_that_does_not_fit_is_refused_in_words(
    roi: RoiBox, downsample: int, words: str
) -> None:
    params = MiniCtParams(z_start=0, z_end=0, roi=roi, downsample=downsample)  # type: ignore[arg-type]
    with pytest.raises(PlanRefused, match=words):
        region_crop(params, 64, 64)


def test_htj2k_takes_a_small_box_and_no_box_is_the_whole_slice() -> None:
    small = MiniCtParams(
        z_start=0,
        z_end=0,
        roi=RoiBox(row=0, column=0, rows=8, columns=8),
        codec=Codec.HTJ2K_LOSSLESS,
    )
    assert region_crop(small, 64, 64) == Crop(0, 0, 8, 8)
    assert region_crop(MiniCtParams(z_start=0, z_end=0), 64, 80) == Crop(0, 0, 64, 80)


def test_no_binning_keeps_every_stored_value_even_in_a_padding_range() -> None:
    frame = np.array([[-2000, -1990, 5], [4000, 0, -1]], dtype=np.int16)
    out = bin_stored(
        [frame], 1, padding=Padding(-2000, -1900), stored_range=StoredRange.of(12, True)
    )
    np.testing.assert_array_equal(out, frame)  # -1990 is padding, 4000 over 12 bits: both kept
