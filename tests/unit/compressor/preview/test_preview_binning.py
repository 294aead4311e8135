"""The binning core: block means of stored values, exactly as the module's rules say."""

from __future__ import annotations

import numpy as np
import pytest

from dicompress_compressor.preview.binning import (
    Padding,
    Rescale,
    StoredRange,
    bin_stored,
    binned_shape,
    round_half_away,
)

S12 = StoredRange.of(12, signed=True)
U12 = StoredRange.of(12, signed=False)


def test_stored_ranges_follow_bits_and_sign() -> None:
    assert (S12.low, S12.high) == (-2048, 2047)
    assert (U12.low, U12.high) == (0, 4095)
    assert StoredRange.of(16, signed=False).high == 65535


def test_rounding_is_half_away_from_zero_for_either_sign() -> None:
    got = round_half_away(np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 1.49, -1.51]))
    assert got.tolist() == [-3.0, -2.0, -1.0, 1.0, 2.0, 3.0, 1.0, -2.0]


def test_a_signed_2x2_block_mean_stays_signed_and_rounds_symmetrically() -> None:
    frame = np.array([[-1, -2, 1, 2], [-1, -2, 1, 2]], dtype=np.int16)
    got = bin_stored([frame], 2, stored_range=S12)
    assert got.dtype == np.int16
    assert got.tolist() == [[-2, 2]]  # -1.5 and 1.5: away from zero both ways


def test_the_remainder_rows_and_columns_are_cropped() -> None:
    frame = np.arange(25, dtype=np.uint16).reshape(5, 5)
    got = bin_stored([frame], 2, stored_range=U12)
    assert binned_shape(5, 5, 2) == (2, 2) == got.shape
    # block (0, 0) = mean(0, 1, 5, 6) = 3; row 4 and column 4 are in no block
    assert got.tolist() == [[3, 5], [13, 15]]


def test_z_groups_average_across_slices() -> None:
    a = np.full((4, 4), -100, dtype=np.int16)
    b = np.full((4, 4), 301, dtype=np.int16)
    got = bin_stored([a, b], 4, stored_range=S12)
    assert got.tolist() == [[101]]  # 100.5 -> 101


def test_the_accumulator_is_wide_enough_for_16_bit_extremes() -> None:
    frames = [np.full((8, 8), 65535, dtype=np.uint16) for _ in range(4)]
    got = bin_stored(frames, 4, stored_range=StoredRange.of(16, signed=False))
    assert got.dtype == np.uint16
    assert np.all(got == 65535)
    low = [np.full((4, 4), -32768, dtype=np.int16) for _ in range(4)]
    assert bin_stored(low, 4, stored_range=StoredRange.of(16, signed=True)).tolist() == [[-32768]]


def test_equal_rescales_average_stored_values_as_they_are() -> None:
    a = np.array([[10, 11], [12, 13]], dtype=np.uint16)
    same = [Rescale(1.0, -1024.0)] * 2
    assert bin_stored([a, a + 4], 2, rescales=same, stored_range=U12).tolist() == [[14]]


def test_different_rescales_average_modality_values_then_use_the_first_rescale() -> None:
    # slice A: HU = stored - 1024; slice B: HU = 2 * stored - 1000
    a = np.full((2, 2), 1064, dtype=np.uint16)  # 40 HU
    b = np.full((2, 2), 520, dtype=np.uint16)  # 40 HU too
    rescales = [Rescale(1.0, -1024.0), Rescale(2.0, -1000.0)]
    got = bin_stored([a, b], 2, rescales=rescales, stored_range=U12)
    assert got.tolist() == [[1064]]  # 40 HU, in slice A's stored values
    c = np.full((2, 2), 1020, dtype=np.uint16)  # 1040 HU
    got = bin_stored([a, c], 2, rescales=rescales, stored_range=U12)
    assert got.tolist() == [[1564]]  # mean 540 HU -> 540 + 1024


def test_a_modality_mean_outside_the_stored_range_is_clipped() -> None:
    a = np.full((2, 2), 4095, dtype=np.uint16)  # 3071 HU
    b = np.full((2, 2), 4095, dtype=np.uint16)  # 4 * 4095 - 1024 = 15356 HU
    rescales = [Rescale(1.0, -1024.0), Rescale(4.0, -1024.0)]
    assert bin_stored([a, b], 2, rescales=rescales, stored_range=U12).tolist() == [[4095]]


def test_padding_is_left_out_of_a_mean_and_a_block_of_padding_stays_padding() -> None:
    pad = -2048
    frame = np.array(
        [[pad, 100, pad, pad], [300, 200, pad, pad]],
        dtype=np.int16,
    )
    got = bin_stored([frame], 2, padding=Padding(pad), stored_range=S12)
    assert got.tolist() == [[200, pad]]  # mean(100, 300, 200), not dragged towards -2048


def test_a_padding_range_counts_every_value_in_it() -> None:
    frame = np.array([[0, 5, 40, 50], [10, 3, 60, 70]], dtype=np.uint16)
    got = bin_stored([frame], 2, padding=Padding(0, limit=10), stored_range=U12)
    assert got.tolist() == [[0, 55]]  # 0..10 all padding: the block is padding (its value)


def test_padding_across_a_z_group() -> None:
    a = np.full((2, 2), -2000, dtype=np.int16)
    b = np.full((2, 2), 50, dtype=np.int16)
    got = bin_stored([a, b], 2, padding=Padding(-2000), stored_range=S12)
    assert got.tolist() == [[50]]


def test_monochrome1_values_are_averaged_like_any_other() -> None:
    # MONOCHROME1 is a display rule (high = dark); the stored values average the same way
    frame = np.array([[4095, 4093], [0, 2]], dtype=np.uint16)
    assert bin_stored([frame], 2, stored_range=U12).tolist() == [[2048]]


@pytest.mark.parametrize(
    ("frames", "k", "match"),
    [
        ([], 2, "at least one slice"),
        ([np.zeros((4, 4), np.int16)], 0, "at least 1"),
        ([np.zeros((3, 3), np.int16)], 4, "smaller than one"),
        ([np.zeros((4, 4), np.int16), np.zeros((4, 2), np.int16)], 2, "differ in size"),
    ],
)
def test_impossible_groups_are_refused(frames: list[np.ndarray], k: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bin_stored(frames, k, stored_range=S12)


def _mean_by_reduction(frames: list[np.ndarray], k: int, padding: Padding | None) -> np.ndarray:
    """The rule read literally: one int64 reduction over the block axes of a 5-D view (what
    `bin_stored` computed before its strided sums), equal rescales."""
    rows, columns = binned_shape(frames[0].shape[0], frames[0].shape[1], k)
    cut = np.stack([f[: rows * k, : columns * k] for f in frames])
    blocks = cut.reshape(len(frames), rows, k, columns, k)
    keep = np.ones(blocks.shape, dtype=bool) if padding is None else ~padding.mask(blocks)
    count = keep.sum(axis=(0, 2, 4))
    total = np.where(keep, blocks.astype(np.int64), 0).sum(axis=(0, 2, 4))
    stored = np.clip(round_half_away(total / np.maximum(count, 1)), -2048, 2047)
    if padding is not None:
        stored = np.where(count == 0, padding.value, stored)
    return stored.astype(frames[0].dtype)


@pytest.mark.parametrize("seed", range(40))
def test_the_fast_block_sums_give_the_reductions_means(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k, m = int(rng.choice([2, 4])), int(rng.choice([1, 2, 4]))
    shape = (int(rng.integers(k, 41)), int(rng.integers(k, 41)))  # ragged edges too
    frames = [rng.integers(-2048, 2048, shape).astype(np.int16) for _ in range(m)]
    padding = None
    if seed % 2:
        padding = Padding(-2000, None if seed % 4 == 1 else -1800)
        for frame in frames:
            frame[rng.random(shape) < 0.4] = -2000
    got = bin_stored(frames, k, padding=padding, stored_range=S12)
    assert got.dtype == np.int16
    assert np.array_equal(got, _mean_by_reduction(frames, k, padding))
