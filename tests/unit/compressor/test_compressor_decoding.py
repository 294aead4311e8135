"""Decoding what scanners send: every input transfer syntax goes through the plugin named for it,
the encoder path turns it into a valid output whose pixels equal the original's (lossless codec:
max difference 0), and the service refuses to start when a decoder is missing."""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
import pytest
from compressor_images import image_bytes
from compressor_transcode import transcode
from pydicom import dcmread
from pydicom.encaps import generate_fragmented_frames
from pydicom.filewriter import dcmwrite
from pydicom.pixels.decoders import JPEGLosslessSV1Decoder
from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    HTJ2KLossless,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from dicompress_compressor.decoding import check_decoders_available, decode_frame
from dicompress_compressor.encoder import EncodeOptions, check_encoder_available, encode_slice
from dicompress_compressor.errors import DecoderUnavailable, UnsupportedInput
from dicompress_infra.dicom_decoding import DECODING_PLUGINS, GDCM, missing_decoders
from dicompress_schemas import Codec
from dicompress_stack.synthetic_ct import slice_bytes

LOSSLESS_INPUTS = [
    JPEGLosslessSV1,
    JPEGLossless,
    JPEGLSLossless,
    JPEG2000Lossless,
    RLELossless,
    DeflatedExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
]
Array = npt.NDArray[np.integer]


@pytest.fixture(scope="module")
def original() -> bytes:
    return slice_bytes(150, 399, 128)  # 12-bit CT: chest, heart, ribs


def _pixels(data: bytes) -> Array:
    ds = dcmread(io.BytesIO(data))
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    return np.stack([decode_frame(ds, i) for i in range(frames)])


def _difference(a: Array, b: Array) -> int:
    return int(np.abs(a.astype(np.int64) - b.astype(np.int64)).max())


def test_every_listed_transfer_syntax_has_its_decoder() -> None:
    assert missing_decoders() == []
    check_decoders_available()
    check_encoder_available()  # what the pool and `main` run at start-up
    for syntax in (JPEGBaseline8Bit, JPEGLossless, JPEGLosslessSV1, JPEGLSLossless):
        assert DECODING_PLUGINS[syntax] == GDCM  # named, not whatever pydicom finds first


def test_start_up_is_refused_with_what_to_install_when_gdcm_is_missing() -> None:
    JPEGLosslessSV1Decoder.remove_plugin(GDCM)
    try:
        with pytest.raises(
            DecoderUnavailable, match=r"'gdcm' decoder of JPEG Lossless.*python-gdcm"
        ):
            check_encoder_available()
    finally:
        JPEGLosslessSV1Decoder.add_plugin(GDCM, ("pydicom.pixels.decoders.gdcm", "_decode_frame"))
    assert missing_decoders() == []


@pytest.mark.parametrize("syntax", LOSSLESS_INPUTS, ids=lambda s: str(s))
@pytest.mark.parametrize("codec", [Codec.J2K_LOSSLESS, Codec.HTJ2K_LOSSLESS])
def test_lossless_inputs_come_out_with_the_original_pixels(
    original: bytes, syntax: UID, codec: Codec
) -> None:
    source = transcode(original, syntax)
    assert dcmread(io.BytesIO(source)).file_meta.TransferSyntaxUID == syntax

    result = encode_slice(source, EncodeOptions(codec, rate=None))

    encoded = dcmread(io.BytesIO(result.data))
    assert encoded.file_meta.TransferSyntaxUID == (
        JPEG2000Lossless if codec is Codec.J2K_LOSSLESS else HTJ2KLossless
    )
    assert encoded.SOPInstanceUID == dcmread(io.BytesIO(source)).SOPInstanceUID  # lossless
    assert _difference(encoded.pixel_array, _pixels(original)[0]) == 0
    assert result.max_abs_error == 0


@pytest.mark.parametrize("syntax", LOSSLESS_INPUTS, ids=lambda s: str(s))
def test_lossy_output_of_each_input_is_measured_against_the_decoded_original(
    original: bytes, syntax: UID
) -> None:
    result = encode_slice(transcode(original, syntax), EncodeOptions(Codec.J2K_LOSSY, rate=10))

    encoded = dcmread(io.BytesIO(result.data))
    assert encoded.file_meta.TransferSyntaxUID == JPEG2000
    assert encoded.LossyImageCompression == "01"
    assert result.psnr_db is not None
    assert result.psnr_db > 40
    decoded_error = _difference(encoded.pixel_array, _pixels(original)[0])
    assert decoded_error == result.max_abs_error  # measured against the true original pixels


def test_near_lossless_jpeg_ls_decodes_within_its_bound(original: bytes) -> None:
    source = transcode(original, JPEGLSNearLossless, near=2)
    assert _difference(_pixels(source), _pixels(original)) == 2

    result = encode_slice(source, EncodeOptions(Codec.J2K_LOSSLESS, rate=None))

    decoded = dcmread(io.BytesIO(result.data)).pixel_array
    assert _difference(decoded, _pixels(source)[0]) == 0  # lossless from what was sent


def test_8_bit_jpeg_baseline_is_decoded() -> None:
    original = image_bytes(bits_allocated=8, bits_stored=8)
    source = transcode(original, JPEGBaseline8Bit)

    result = encode_slice(source, EncodeOptions(Codec.J2K_LOSSLESS, rate=None))

    decoded = dcmread(io.BytesIO(result.data)).pixel_array
    assert _difference(decoded, _pixels(source)[0]) == 0
    assert _difference(decoded, _pixels(original)[0]) < 40  # JPEG Baseline's own loss


def test_12_bit_jpeg_extended_is_refused_with_what_to_do(original: bytes) -> None:
    with pytest.raises(UnsupportedInput, match=r"12-bit JPEG Extended .* JPEG Lossless") as err:
        encode_slice(transcode(original, JPEGExtended12Bit), EncodeOptions(rate=10))
    assert err.value.code == "unsupported"


def test_an_unknown_transfer_syntax_is_refused_by_name(original: bytes) -> None:
    ds = dcmread(io.BytesIO(transcode(original, JPEGLosslessSV1)))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2, not a CT slice
    out = io.BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    with pytest.raises(UnsupportedInput, match=r"1\.2\.840\.10008\.1\.2\.4\.100 .* uncompressed"):
        encode_slice(out.getvalue(), EncodeOptions(rate=10))


def _multi_frame(frames: int) -> bytes:
    """An Enhanced-CT-like multi-frame object: `frames` synthetic slices in one Pixel Data."""
    slices = [dcmread(io.BytesIO(slice_bytes(100 + 20 * i, 399, 128))) for i in range(frames)]
    ds = slices[0]
    ds.NumberOfFrames = frames
    ds.PixelData = b"".join(s.PixelData for s in slices)
    out = io.BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()


@pytest.mark.parametrize("syntax", [None, JPEGLosslessSV1, JPEGLSLossless], ids=str)
def test_multi_frame_input_is_encoded_frame_by_frame(syntax: UID | None) -> None:
    original = _multi_frame(3)
    source = original if syntax is None else transcode(original, syntax)

    lossless = encode_slice(source, EncodeOptions(Codec.J2K_LOSSLESS, rate=None))
    lossy = encode_slice(source, EncodeOptions(Codec.J2K_LOSSY, rate=10))

    for result in (lossless, lossy):
        encoded = dcmread(io.BytesIO(result.data))
        assert int(encoded.NumberOfFrames) == 3
        frames = generate_fragmented_frames(encoded.PixelData, number_of_frames=3)
        assert [len(f) for f in frames] == [1, 1, 1]  # one codestream per frame
        assert encoded.pixel_array.shape == (3, 128, 128)
        assert result.pixel_bytes == 3 * 128 * 128 * 2
    assert _difference(dcmread(io.BytesIO(lossless.data)).pixel_array, _pixels(original)) == 0
    decoded = dcmread(io.BytesIO(lossy.data)).pixel_array
    assert _difference(decoded, _pixels(original)) == lossy.max_abs_error
    assert lossy.psnr_db is not None
    assert lossy.psnr_db > 40
    assert lossy.ratio == pytest.approx(10, rel=0.15)
