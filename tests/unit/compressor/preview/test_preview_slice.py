"""One preview slice made from its Z-group's files, as a pool process makes it: its pixels,
its identity, its derivation and its lossy marks."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from preview_series import SeriesSpec, dataset, make_preview, part10, series_files, stored
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import JPEGLosslessSV1, JPEGLSLossless
from tests.unit.compressor.compressor_transcode import transcode

from dicompress_compressor.errors import UnsupportedInput
from dicompress_compressor.preview.binning import Padding, StoredRange, bin_stored
from dicompress_compressor.preview.dataset import (
    PreviewSliceSpec,
    preview_series_uid,
    preview_sop_uid,
)
from dicompress_compressor.preview.encode import make_preview_slice
from dicompress_schemas import Codec


def _read(data: bytes) -> Dataset:
    return dcmread(io.BytesIO(data))


def _spec(index: int = 0, bin_xy: int = 2, bin_z: int = 1, **kw: object) -> PreviewSliceSpec:
    fields: dict[str, object] = {
        "index": index,
        "bin_xy": bin_xy,
        "bin_z": bin_z,
        "codec": Codec.J2K_LOSSY,
        "rate": 10.0,
        "series_uid": "1.2.826.0.1.3680043.8.498.1",
        "sop_uid": "1.2.826.0.1.3680043.8.498.2",
        "spacing_mm": 1.25,
    }
    return PreviewSliceSpec(**(fields | kw))  # type: ignore[arg-type]


def _sources(spec: SeriesSpec, indexes: range) -> list[bytes]:
    return [part10(dataset(spec, i)) for i in indexes]


def test_a_preview_slice_is_a_derived_lossy_image_of_its_group() -> None:
    spec = SeriesSpec(n=4, description="Chest 1.25")
    sources = _sources(spec, range(2))
    made = make_preview_slice(sources, _spec(index=3, bin_z=2))
    ds = _read(made.encoded.data)
    originals = [_read(s) for s in sources]

    assert (ds.Rows, ds.Columns) == (32, 32)
    assert [float(v) for v in ds.PixelSpacing] == pytest.approx([1.4, 1.6])
    assert [float(v) for v in ds.ImagePositionPatient] == pytest.approx(
        [-40.0 + 0.4, -35.0 + 0.35, 20.625]
    )
    assert made.position == pytest.approx((-39.6, -34.65, 20.625))
    assert made.position_along_normal == pytest.approx(20.625)
    assert float(ds.SliceLocation) == pytest.approx(20.625)
    assert float(ds.SliceThickness) == pytest.approx(2.5)
    assert (
        ds.SOPInstanceUID
        == ds.file_meta.MediaStorageSOPInstanceUID
        == made.encoded.sop_instance_uid
    )
    assert ds.SOPInstanceUID == "1.2.826.0.1.3680043.8.498.2"
    assert ds.SeriesInstanceUID == "1.2.826.0.1.3680043.8.498.1"
    assert ds.InstanceNumber == 4
    assert ds.StudyInstanceUID == originals[0].StudyInstanceUID
    assert ds.FrameOfReferenceUID == originals[0].FrameOfReferenceUID
    assert list(ds.ImageType) == ["DERIVED", "SECONDARY", "AXIAL"]
    assert ds.SeriesDescription == "Preview of Chest 1.25 (2x2x2 binned)"
    assert "binned 2x2x2" in ds.DerivationDescription
    assert "j2k-lossy at rate 10" in ds.DerivationDescription
    assert "Lossy compression with ISO_15444_1" in ds.DerivationDescription
    assert ds.LossyImageCompression == "01"
    assert ds.LossyImageCompressionMethod == "ISO_15444_1"
    assert float(ds.LossyImageCompressionRatio) == pytest.approx(made.encoded.ratio, abs=0.01)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.91"
    references = [
        (item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID,
         item.PurposeOfReferenceCodeSequence[0].CodeValue)
        for item in ds.SourceImageSequence
    ]  # fmt: skip
    assert references == [(o.SOPClassUID, o.SOPInstanceUID, "121322") for o in originals]
    assert made.encoded.source_sop_instance_uid == originals[0].SOPInstanceUID
    assert (ds.RescaleSlope, ds.RescaleIntercept) == (1, -1024)
    assert ds.PixelRepresentation == 1


def test_psnr_is_measured_against_the_binned_pixels() -> None:
    spec = SeriesSpec(n=2)
    made = make_preview_slice(_sources(spec, range(2)), _spec(bin_z=2))
    binned = bin_stored(
        [stored(spec, 0), stored(spec, 1)], 2, stored_range=StoredRange.of(12, True)
    )
    decoded = _read(made.encoded.data).pixel_array
    difference = decoded.astype(np.float64) - binned
    peak = float(binned.max()) - float(binned.min())  # the binned slice's own range
    psnr = 10 * np.log10(peak**2 / np.mean(difference**2))
    assert made.encoded.psnr_db == pytest.approx(psnr, abs=1e-6)
    assert made.encoded.max_abs_error == int(np.abs(difference).max())
    assert made.encoded.max_error_hu == made.encoded.max_abs_error  # RescaleSlope 1
    assert made.encoded.ratio == pytest.approx(10, rel=0.25)


def test_signed_values_padding_and_rescale_survive_exactly() -> None:
    # a lossless codec here, so the binned values themselves can be checked
    spec = SeriesSpec(n=2, padding=-2048)
    made = make_preview_slice(_sources(spec, range(2)), _spec(bin_z=2, codec=Codec.J2K_LOSSLESS))
    ds = _read(made.encoded.data)
    expected = bin_stored(
        [stored(spec, 0), stored(spec, 1)],
        2,
        padding=Padding(-2048),
        stored_range=StoredRange.of(12, True),
    )
    assert ds.pixel_array.dtype == np.int16
    np.testing.assert_array_equal(ds.pixel_array, expected)
    assert ds.PixelPaddingValue == -2048
    assert ds.pixel_array[0, 0] == -2048  # the corner is outside the circle: padding
    assert ds.pixel_array.min() == -2048
    assert (ds.pixel_array[ds.pixel_array != -2048] > -2048 + 10).all()  # no half-padding mix


def test_a_group_with_different_rescales_is_averaged_in_modality_values() -> None:
    spec = SeriesSpec(n=2, rescale=lambda i: (1.0, -1024.0) if i == 0 else (2.0, -1000.0))
    made = make_preview_slice(_sources(spec, range(2)), _spec(bin_z=2, codec=Codec.J2K_LOSSLESS))
    ds = _read(made.encoded.data)
    hu = [stored(spec, 0) * 1.0 - 1024.0, stored(spec, 1) * 2.0 - 1000.0]
    mean_hu = (hu[0] + hu[1])[:64, :64].reshape(32, 2, 32, 2).sum(axis=(1, 3)) / 8
    expected = np.clip(
        np.sign(mean_hu + 1024) * np.floor(np.abs(mean_hu + 1024) + 0.5), -2048, 2047
    )
    np.testing.assert_array_equal(ds.pixel_array, expected)
    assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (1.0, -1024.0)


def test_monochrome1_stays_monochrome1() -> None:
    spec = SeriesSpec(n=1, photometric="MONOCHROME1", signed=False)
    made = make_preview_slice(_sources(spec, range(1)), _spec(codec=Codec.J2K_LOSSLESS))
    ds = _read(made.encoded.data)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    expected = bin_stored([stored(spec, 0)], 2, stored_range=StoredRange.of(12, False))
    np.testing.assert_array_equal(ds.pixel_array, expected)


@pytest.mark.parametrize("syntax", [JPEGLosslessSV1, JPEGLSLossless], ids=lambda s: s.name)
def test_compressed_inputs_are_decoded_first(syntax: str) -> None:
    spec = SeriesSpec(n=2)
    plain = _sources(spec, range(2))
    compressed = [transcode(s, syntax) for s in plain]  # type: ignore[arg-type]
    assert _read(compressed[0]).file_meta.TransferSyntaxUID == syntax
    lossless = _spec(bin_z=2, codec=Codec.J2K_LOSSLESS)
    from_plain = _read(make_preview_slice(plain, lossless).encoded.data).pixel_array
    from_compressed = _read(make_preview_slice(compressed, lossless).encoded.data).pixel_array
    np.testing.assert_array_equal(from_compressed, from_plain)


def test_htj2k_previews_too() -> None:
    made = make_preview_slice(_sources(SeriesSpec(n=1), range(1)), _spec(codec=Codec.HTJ2K_LOSSY))
    ds = _read(made.encoded.data)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.203"
    assert ds.LossyImageCompressionMethod == "ISO_15444_15"
    assert made.encoded.psnr_db is not None


def test_slices_of_different_sizes_cannot_be_averaged() -> None:
    spec = SeriesSpec(n=2)
    small = dataclasses.replace(spec, size=32)
    sources = [part10(dataset(spec, 0)), part10(dataset(small, 1))]
    with pytest.raises(UnsupportedInput, match="differ in size"):
        make_preview_slice(sources, _spec(bin_z=2))


def test_a_re_run_makes_the_same_bytes_and_uids() -> None:
    files = series_files(SeriesSpec(n=4))
    first = make_preview(files, 2, 2, job_id="job-7")
    again = make_preview(files, 2, 2, job_id="job-7")
    assert [m.encoded.data for m in first] == [m.encoded.data for m in again]
    other = make_preview(files, 2, 2, job_id="job-8")
    assert first[0].encoded.sop_instance_uid == preview_sop_uid("job-7", 0)
    assert other[0].encoded.sop_instance_uid == preview_sop_uid("job-8", 0)
    series = {_read(m.encoded.data).SeriesInstanceUID for m in first}
    assert series == {preview_series_uid("job-7", _read(files[0][1]).SeriesInstanceUID)}
