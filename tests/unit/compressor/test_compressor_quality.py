"""Per-slice PSNR and maximum error, measured on what was written; the quality floor."""

from __future__ import annotations

import imagecodecs
import numpy as np
import pytest
from compressor_images import psnr, read
from pydicom.uid import CTImageStorage

from dicompress_compressor.encoder import EncodeOptions, encode_slice
from dicompress_compressor.errors import BelowQualityFloor, SliceRejected
from dicompress_compressor.quality import LOSSLESS, Quality, measure
from dicompress_schemas import Codec
from dicompress_stack.synthetic_ct import slice_bytes


@pytest.fixture(scope="module")
def chest() -> bytes:
    return slice_bytes(150)


@pytest.mark.parametrize("codec", [Codec.J2K_LOSSY, Codec.HTJ2K_LOSSY])
def test_reported_quality_is_that_of_the_decoded_output(chest: bytes, codec: Codec) -> None:
    result = encode_slice(chest, EncodeOptions(codec=codec, rate=100))
    original = read(chest).pixel_array
    decoded = read(result.data).pixel_array  # pydicom's own decode of the file we wrote

    assert read(result.data).SOPClassUID == CTImageStorage
    assert result.psnr == pytest.approx(psnr(original, decoded, bits=12), abs=0.01)
    assert result.max_abs_error == int(np.abs(decoded.astype(int) - original).max())
    assert 35.0 < result.psnr < 60.0  # 12-bit peak 4095, rate 100


def test_a_slice_below_the_floor_is_rejected_with_the_measured_value(chest: bytes) -> None:
    measured = encode_slice(chest, EncodeOptions(rate=100)).psnr
    assert measured is not None

    with pytest.raises(
        BelowQualityFloor, match=rf"PSNR {measured:.2f} dB is below .* 60 dB"
    ) as err:
        encode_slice(chest, EncodeOptions(rate=100, min_psnr=60.0))
    assert err.value.code == "below-quality-floor"
    assert isinstance(err.value, SliceRejected)
    assert encode_slice(chest, EncodeOptions(rate=100, min_psnr=measured - 1)).psnr == measured


def test_lossless_meets_any_floor(chest: bytes) -> None:
    result = encode_slice(chest, EncodeOptions(codec=Codec.HTJ2K_LOSSLESS, rate=None, min_psnr=99))
    assert (result.psnr, result.max_abs_error) == (None, 0)


def test_identical_pixels_measure_as_lossless() -> None:
    pixels = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) % 4096
    assert measure(pixels, imagecodecs.htj2k_encode(pixels, reversible=True), 12) == LOSSLESS
    Quality(psnr=None, max_abs_error=0).check_floor(1000.0)  # infinite PSNR passes any floor
