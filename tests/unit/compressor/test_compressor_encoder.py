"""The JPEG 2000 encoder on synthetic CT slices: ratio, fidelity, kept and set attributes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import JPEG2000, ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from dicompress_compressor.encoder import (
    EncodeOptions,
    check_encoder_available,
    encode_slice,
    openjpeg_ratio,
)
from dicompress_compressor.errors import MalformedDicom
from dicompress_compressor.errors import SliceRejected as UnsupportedInput
from dicompress_stack.synthetic_ct import PRIVATE_CREATOR, PRIVATE_GROUP, slice_bytes

# a lung apex, a chest slice with heart and ribs, an abdominal slice with liver and kidneys
SLICES = (10, 150, 280)
CHANGED = {"SOPInstanceUID", "LossyImageCompression", "LossyImageCompressionRatio",
           "LossyImageCompressionMethod", "PixelData", "ImageType", "DerivationDescription",
           "DerivationCodeSequence", "SourceImageSequence"}  # fmt: skip


@pytest.fixture(scope="module")
def originals() -> dict[int, bytes]:
    return {index: slice_bytes(index) for index in SLICES}


def psnr(reference: np.ndarray, decoded: np.ndarray, peak: float = 4095.0) -> float:
    mse = float(np.mean((reference.astype(np.float64) - decoded.astype(np.float64)) ** 2))
    return float(10.0 * np.log10(peak**2 / mse))


def test_the_encoder_plugin_is_available() -> None:
    check_encoder_available()


def test_openjpeg_is_asked_for_the_rate_against_bits_stored() -> None:
    assert openjpeg_ratio(100, bits_stored=12, bits_allocated=16) == 75.0
    assert openjpeg_ratio(10, bits_stored=16, bits_allocated=16) == 10.0
    assert openjpeg_ratio(1.1, bits_stored=8, bits_allocated=16) == 1.0  # OpenJPEG's minimum


@pytest.mark.parametrize(("rate", "min_psnr"), [(10, 50.0), (100, 38.0)])
@pytest.mark.parametrize("index", SLICES)
def test_encoded_slice_decodes_at_the_requested_ratio(
    originals: dict[int, bytes], index: int, rate: float, min_psnr: float
) -> None:
    original = dcmread(io.BytesIO(originals[index]))
    result = encode_slice(originals[index], EncodeOptions(rate=rate))

    assert result.data[128:132] == b"DICM"  # a Part 10 file with its preamble
    encoded = dcmread(io.BytesIO(result.data))
    assert encoded.file_meta.TransferSyntaxUID == JPEG2000 == "1.2.840.10008.1.2.4.91"
    assert result.pixel_bytes == 512 * 512 * 2
    assert result.ratio == pytest.approx(result.pixel_bytes / result.codestream_bytes)
    assert result.ratio == pytest.approx(rate, rel=0.15)
    assert result.encode_ms > 0
    decoded = encoded.pixel_array
    assert decoded.shape == (512, 512)
    assert psnr(original.pixel_array, decoded) > min_psnr


def test_every_other_element_and_the_private_block_are_kept(originals: dict[int, bytes]) -> None:
    original = dcmread(io.BytesIO(originals[150]))
    encoded = dcmread(io.BytesIO(encode_slice(originals[150], EncodeOptions(rate=100)).data))

    for element in original:
        if element.keyword in CHANGED:
            continue
        assert encoded[element.tag].value == element.value, element.keyword
    block = encoded.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)
    assert block[0x10].value == "synthetic phantom"
    assert block[0x12].value == 399


def test_lossy_attributes_and_a_new_instance_uid_are_set(originals: dict[int, bytes]) -> None:
    original = dcmread(io.BytesIO(originals[10]))
    result = encode_slice(originals[10], EncodeOptions(rate=100))
    encoded = dcmread(io.BytesIO(result.data))

    assert encoded.LossyImageCompression == "01"
    assert float(encoded.LossyImageCompressionRatio) == pytest.approx(result.ratio, abs=0.01)
    assert encoded.LossyImageCompressionMethod == "ISO_15444_1"
    assert encoded.SOPInstanceUID != original.SOPInstanceUID
    assert encoded.file_meta.MediaStorageSOPInstanceUID == encoded.SOPInstanceUID
    assert encoded.file_meta.MediaStorageSOPClassUID == original.SOPClassUID


def test_compressed_input_is_decoded_first_and_the_history_appended(
    originals: dict[int, bytes],
) -> None:
    first = encode_slice(originals[280], EncodeOptions(rate=10))
    second = encode_slice(first.data, EncodeOptions(rate=50))
    encoded = dcmread(io.BytesIO(second.data))

    assert second.ratio == pytest.approx(50, rel=0.15)
    assert [float(r) for r in encoded.LossyImageCompressionRatio] == pytest.approx(
        [first.ratio, second.ratio], abs=0.01
    )
    assert list(encoded.LossyImageCompressionMethod) == ["ISO_15444_1", "ISO_15444_1"]
    assert encoded.pixel_array.shape == (512, 512)


def _image(**overrides: object) -> bytes:
    """A 64x64 Secondary Capture image (OpenJPEG's 6 resolution levels need >= 32 pixels a
    side), changed by `overrides` (keyword -> value, None deletes)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.Rows = ds.Columns = 64
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(range(256)) * 16
    for keyword, value in overrides.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    out = io.BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()


def test_an_8_bit_secondary_capture_is_accepted() -> None:
    assert encode_slice(_image(), EncodeOptions(rate=5)).codestream_bytes > 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"SamplesPerPixel": 3, "PhotometricInterpretation": "RGB", "PlanarConfiguration": 0,
             "PixelData": bytes(64 * 64 * 3)},
            "only greyscale",
        ),
        ({"BitsAllocated": 32, "BitsStored": 32, "HighBit": 31, "PixelData": bytes(64 * 64 * 4)},
         "only 8- and 16-bit"),
        ({"NumberOfFrames": 2, "PixelData": bytes(64 * 64)}, "pixel data is less than expected"),
        ({"PixelData": None}, "no Pixel Data"),
    ],
)  # fmt: skip
def test_unsupported_images_are_refused_with_the_reason(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(UnsupportedInput, match=message):
        encode_slice(_image(**overrides), EncodeOptions(rate=10))


def test_a_file_that_is_not_dicom_is_refused() -> None:
    with pytest.raises(UnsupportedInput, match="not a DICOM"):
        encode_slice(b"these are the radiologist's notes, not an image", EncodeOptions(rate=10))
    assert issubclass(UnsupportedInput, ValueError)


def test_a_truncated_file_is_refused_as_malformed() -> None:
    with pytest.raises(MalformedDicom, match=r"malformed .* export it again") as err:
        encode_slice(_image()[:-100], EncodeOptions(rate=10))  # pixel data cut short
    assert err.value.code == "malformed-dicom"
