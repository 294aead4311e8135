"""Every codec: decodable by pydicom under its transfer syntax, at the rate asked, bit-exact when
lossless, on 12-bit CT and on signed, 8-bit and partly-used 16-bit images."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from compressor_images import image_bytes, range_psnr, read, stored_values
from pydicom import dcmread
from pydicom.encaps import generate_frames, parse_basic_offsets
from pydicom.uid import HTJ2K, JPEG2000, HTJ2KLossless, JPEG2000Lossless

from dicompress_compressor import htj2k
from dicompress_compressor.codecs import missing_plugins
from dicompress_compressor.encoder import EncodeOptions, encode_slice
from dicompress_compressor.errors import UnsupportedInput
from dicompress_schemas import Codec
from dicompress_stack.synthetic_ct import slice_bytes

TRANSFER_SYNTAX = {
    Codec.J2K_LOSSY: JPEG2000,
    Codec.J2K_LOSSLESS: JPEG2000Lossless,
    Codec.HTJ2K_LOSSY: HTJ2K,
    Codec.HTJ2K_LOSSLESS: HTJ2KLossless,
}
LOSSY = (Codec.J2K_LOSSY, Codec.HTJ2K_LOSSY)
LOSSLESS = (Codec.J2K_LOSSLESS, Codec.HTJ2K_LOSSLESS)


def options(codec: Codec, rate: float = 100.0) -> EncodeOptions:
    return EncodeOptions(codec=codec, rate=None if codec.lossless else rate)


@pytest.fixture(scope="module")
def ct() -> dict[int, bytes]:
    """A chest slice and an abdominal slice of the synthetic CT."""
    return {index: slice_bytes(index) for index in (150, 280)}


def test_every_plugin_is_installed() -> None:
    assert missing_plugins() == []
    assert htj2k.available()


@pytest.mark.parametrize("codec", list(Codec))
def test_every_codec_writes_its_transfer_syntax_and_pydicom_decodes_it(
    ct: dict[int, bytes], codec: Codec
) -> None:
    result = encode_slice(ct[150], options(codec))

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Bits Stored doesn't match" or similar complaint
        encoded = dcmread(io.BytesIO(result.data))
        decoded = encoded.pixel_array
    assert encoded.file_meta.TransferSyntaxUID == TRANSFER_SYNTAX[codec]
    assert decoded.shape == (512, 512)
    assert decoded.dtype == np.uint16
    frames = list(generate_frames(encoded.PixelData, number_of_frames=1))
    assert len(frames) == 1
    assert len(frames[0]) - result.codestream_bytes in (0, 1)  # items are padded to even length
    assert parse_basic_offsets(io.BytesIO(encoded.PixelData)) == [0]  # a Basic Offset Table
    assert encoded.RescaleIntercept == -1024
    assert encoded.RescaleSlope == 1


@pytest.mark.parametrize("rate", [10, 100])
@pytest.mark.parametrize("codec", LOSSY)
def test_lossy_codecs_reach_the_requested_ratio(
    ct: dict[int, bytes], codec: Codec, rate: float
) -> None:
    for index, data in ct.items():
        result = encode_slice(data, options(codec, rate))
        assert result.pixel_bytes == 512 * 512 * 2  # rate counts BitsAllocated, as gdcmconv
        assert result.ratio == pytest.approx(result.pixel_bytes / result.codestream_bytes)
        assert result.ratio == pytest.approx(rate, rel=0.15), index


@pytest.mark.parametrize("codec", LOSSLESS)
def test_lossless_codecs_are_bit_exact_on_ct(ct: dict[int, bytes], codec: Codec) -> None:
    result = encode_slice(ct[280], options(codec))

    assert np.array_equal(read(result.data).pixel_array, read(ct[280]).pixel_array)
    assert result.psnr_db is None
    assert (result.max_abs_error, result.max_error_hu) == (0, 0.0)
    assert result.ratio > 1.5


def test_htj2k_declares_the_precision_it_encodes(ct: dict[int, bytes]) -> None:
    """OpenJPH (through imagecodecs) always codes 16-bit words at precision 16."""
    original = read(ct[150])
    encoded = read(encode_slice(ct[150], options(Codec.HTJ2K_LOSSY)).data)

    assert (original.BitsStored, original.HighBit) == (12, 11)
    assert (encoded.BitsStored, encoded.HighBit, encoded.BitsAllocated) == (16, 15, 16)
    j2k = read(encode_slice(ct[150], options(Codec.J2K_LOSSY)).data)
    assert (j2k.BitsStored, j2k.HighBit) == (12, 11)  # OpenJPEG codes at BitsStored


DEPTHS = [
    pytest.param(16, 16, True, id="signed-16"),
    pytest.param(16, 12, True, id="signed-12-in-16"),
    pytest.param(16, 10, False, id="unsigned-10-in-16"),
    pytest.param(8, 8, False, id="unsigned-8"),
    pytest.param(8, 8, True, id="signed-8"),
]


@pytest.mark.parametrize(("allocated", "stored", "signed"), DEPTHS)
@pytest.mark.parametrize("codec", list(Codec))
def test_every_bit_depth_and_signedness_round_trips(
    codec: Codec, allocated: int, stored: int, signed: bool
) -> None:
    data = image_bytes(bits_allocated=allocated, bits_stored=stored, signed=signed)
    original = stored_values(64, allocated, stored, signed)
    result = encode_slice(data, options(codec, rate=4))
    encoded = read(result.data)
    decoded = encoded.pixel_array

    assert encoded.PixelRepresentation == int(signed)
    assert decoded.dtype == original.dtype
    assert (encoded.RescaleIntercept, encoded.RescaleSlope) == (-1024, 0.5)
    if codec.lossless:
        assert np.array_equal(decoded, original)
        assert result.max_abs_error == 0
    else:
        assert result.max_abs_error == int(np.abs(decoded.astype(int) - original).max()) > 0
        assert result.max_error_hu == result.max_abs_error * 0.5  # RescaleSlope 0.5
        assert result.psnr_db == pytest.approx(range_psnr(original, decoded), abs=0.01)
        assert result.psnr_db > 30.0


def test_a_lossy_rate_is_required_for_lossy_codecs() -> None:
    with pytest.raises(UnsupportedInput, match="needs a compression rate"):
        encode_slice(image_bytes(), EncodeOptions(codec=Codec.HTJ2K_LOSSY, rate=None))


@pytest.mark.parametrize("codec", [Codec.J2K_LOSSY, Codec.J2K_LOSSLESS])
def test_an_image_too_small_for_openjpeg_is_refused_with_the_way_out(codec: Codec) -> None:
    with pytest.raises(UnsupportedInput, match=r"too small .* use an htj2k codec"):
        encode_slice(image_bytes(size=16), options(codec, rate=4))


@pytest.mark.parametrize("codec", [Codec.HTJ2K_LOSSY, Codec.HTJ2K_LOSSLESS])
def test_htj2k_encodes_a_small_image(codec: Codec) -> None:
    result = encode_slice(image_bytes(size=16), options(codec, rate=2))
    assert read(result.data).pixel_array.shape == (16, 16)
