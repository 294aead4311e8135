"""A lossy slice says so as DCMTK would; a lossless one changes nothing but its pixel encoding."""

from __future__ import annotations

import pytest
from compressor_images import image_bytes, read
from pydicom.uid import CTImageStorage

from dicompress_compressor.encoder import EncodeOptions, encode_slice
from dicompress_schemas import Codec

METHOD = {Codec.J2K_LOSSY: "ISO_15444_1", Codec.HTJ2K_LOSSY: "ISO_15444_15"}
LOSSY_ONLY = (
    "LossyImageCompressionRatio", "LossyImageCompressionMethod", "DerivationDescription",
    "DerivationCodeSequence", "SourceImageSequence",
)  # fmt: skip


def codes(sequence: object) -> list[tuple[str, str, str]]:
    return [(i.CodeValue, i.CodingSchemeDesignator, i.CodeMeaning) for i in sequence]  # type: ignore[attr-defined]


@pytest.mark.parametrize("codec", [Codec.J2K_LOSSY, Codec.HTJ2K_LOSSY])
def test_a_lossy_slice_carries_every_lossy_attribute(codec: Codec) -> None:
    data = image_bytes(bits_stored=12)
    original = read(data)
    result = encode_slice(data, EncodeOptions(codec=codec, rate=5))
    encoded = read(result.data)

    assert encoded.LossyImageCompression == "01"
    assert float(encoded.LossyImageCompressionRatio) == pytest.approx(result.ratio, abs=0.01)
    assert encoded.LossyImageCompressionMethod == METHOD[codec]
    assert list(encoded.ImageType) == ["DERIVED", "PRIMARY", "AXIAL"]
    assert METHOD[codec] in encoded.DerivationDescription
    assert f"{result.ratio:.2f}:1" in encoded.DerivationDescription
    assert codes(encoded.DerivationCodeSequence) == [("113040", "DCM", "Lossy Compression")]

    assert encoded.SOPInstanceUID != original.SOPInstanceUID
    assert encoded.file_meta.MediaStorageSOPInstanceUID == encoded.SOPInstanceUID
    assert result.sop_instance_uid == encoded.SOPInstanceUID
    assert result.source_sop_instance_uid == original.SOPInstanceUID
    (source,) = encoded.SourceImageSequence
    assert source.ReferencedSOPClassUID == CTImageStorage == encoded.SOPClassUID
    assert source.ReferencedSOPInstanceUID == original.SOPInstanceUID
    assert codes(source.PurposeOfReferenceCodeSequence) == [
        ("121320", "DCM", "Uncompressed predecessor")
    ]


def test_the_new_uid_is_the_same_on_a_retry_and_differs_per_rate() -> None:
    data = image_bytes()
    first = encode_slice(data, EncodeOptions(rate=5))
    retry = encode_slice(data, EncodeOptions(rate=5))
    other = encode_slice(data, EncodeOptions(rate=8))

    assert first.sop_instance_uid == retry.sop_instance_uid
    assert first.data == retry.data
    assert other.sop_instance_uid != first.sop_instance_uid


@pytest.mark.parametrize("codec", [Codec.J2K_LOSSLESS, Codec.HTJ2K_LOSSLESS])
def test_a_lossless_slice_keeps_its_identity_and_history(codec: Codec) -> None:
    data = image_bytes(LossyImageCompression="00")
    original = read(data)
    result = encode_slice(data, EncodeOptions(codec=codec, rate=None))
    encoded = read(result.data)

    assert encoded.LossyImageCompression == "00"
    assert encoded.SOPInstanceUID == original.SOPInstanceUID == result.sop_instance_uid
    assert list(encoded.ImageType) == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert not any(keyword in encoded for keyword in LOSSY_ONLY)


@pytest.mark.parametrize("first_codec", [Codec.HTJ2K_LOSSY, Codec.J2K_LOSSY])
def test_compressed_input_is_decoded_and_its_history_extended(first_codec: Codec) -> None:
    data = image_bytes(bits_stored=12, DerivationDescription="Windowed by the scanner")
    first = encode_slice(data, EncodeOptions(codec=first_codec, rate=4))
    second = encode_slice(first.data, EncodeOptions(codec=Codec.J2K_LOSSY, rate=6))
    encoded = read(second.data)

    assert [float(r) for r in encoded.LossyImageCompressionRatio] == pytest.approx(
        [first.ratio, second.ratio], abs=0.01
    )
    assert list(encoded.LossyImageCompressionMethod) == [METHOD[first_codec], "ISO_15444_1"]
    assert encoded.DerivationDescription.startswith("Windowed by the scanner; Lossy ")
    assert len(encoded.DerivationCodeSequence) == 2
    assert [s.ReferencedSOPInstanceUID for s in encoded.SourceImageSequence] == [
        read(data).SOPInstanceUID,
        first.sop_instance_uid,
    ]
    assert second.source_sop_instance_uid == first.sop_instance_uid
    assert encoded.pixel_array.shape == (64, 64)


def test_a_lossy_source_re_encoded_lossless_stays_marked_lossy() -> None:
    lossy = encode_slice(image_bytes(), EncodeOptions(rate=5))
    again = read(encode_slice(lossy.data, EncodeOptions(codec=Codec.J2K_LOSSLESS, rate=None)).data)

    assert again.LossyImageCompression == "01"
    assert float(again.LossyImageCompressionRatio) == pytest.approx(lossy.ratio, abs=0.01)


def test_private_and_other_elements_survive() -> None:
    data = image_bytes()
    original = read(data)
    encoded = read(encode_slice(data, EncodeOptions(codec=Codec.HTJ2K_LOSSY, rate=5)).data)

    block = encoded.private_block(0x0011, "DICOMPRESS TEST")
    assert block[0x10].value == "kept through compression"
    for keyword in (
        "PatientName",
        "PatientID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "Modality",
    ):
        assert encoded[keyword].value == original[keyword].value
