"""The volume: anatomical order whatever the arrival order, HU per slice (int16 when exact),
binning, refusals in words, and the calibrated-HU rule."""

from __future__ import annotations

import numpy as np
import pytest
from renderer_phantom import PhantomSpec
from renderer_pixels import phantom_volume

from dicompress_renderer.errors import RenderAborted
from dicompress_renderer.reformat import resample_rows
from dicompress_renderer.volume import _permute, to_modality


def test_slices_are_in_order_along_the_normal_whatever_they_arrived_in() -> None:
    volume = phantom_volume(PhantomSpec(slices=10))
    assert list(volume.positions) == sorted(volume.positions)
    assert volume.slice_spacing == pytest.approx(3.0)
    assert volume.voxels.dtype == np.int16  # slope 1, intercept -1024: exact
    assert volume.calibrated_hu
    assert volume.window == (40.0, 400.0)


def test_binning_averages_blocks_and_scales_the_spacing() -> None:
    volume = phantom_volume(PhantomSpec(slices=4, size=64), bin_xy=2)
    assert volume.voxels.shape == (4, 32, 32)
    assert volume.voxels.dtype == np.int16  # block means rounded: integer slope and intercept
    assert (volume.row_spacing, volume.column_spacing) == (6.0, 6.0)


def test_rescale_is_applied_per_slice() -> None:
    stored = np.array([[0, 100]], dtype=np.uint16)
    assert to_modality(stored, 1.0, -1024.0, 1).tolist() == [[-1024, -924]]
    halves = to_modality(stored, 0.5, -10.0, 1)
    assert halves.dtype == np.float32
    assert halves.tolist() == [[-10.0, 40.0]]


def test_permute_in_place_follows_every_cycle() -> None:
    voxels = np.arange(6, dtype=np.int16).reshape(6, 1, 1) * 10
    order = [3, 0, 5, 1, 2, 4]
    _permute(voxels, order)
    assert voxels.ravel().tolist() == [30, 0, 50, 10, 20, 40]


def test_uneven_slices_are_resampled_to_even_steps() -> None:
    plane = np.array([[0.0], [10.0], [30.0]], dtype=np.float32)  # at 0, 1 and 3 mm
    even = resample_rows(plane, np.array([0.0, 1.0, 3.0]), 1.0)
    assert even.ravel().tolist() == [0.0, 10.0, 20.0, 30.0]


def test_a_cone_beam_ct_without_rescale_is_not_calibrated() -> None:
    assert not phantom_volume(PhantomSpec(rescaled=False)).calibrated_hu


def test_images_without_position_are_refused_in_words() -> None:
    from renderer_phantom import series

    from dicompress_renderer.instances import read_image

    data = series(PhantomSpec(slices=3))[0]
    broken = data.replace(b"\x20\x00\x32\x00", b"\x20\x00\x33\x00")  # IPP tag renamed
    with pytest.raises(RenderAborted, match="no position information"):
        read_image(broken, 1, "IM1")
