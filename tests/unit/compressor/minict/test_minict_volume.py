"""The issue's check: an independent reader (highdicom) rebuilds a Mini CT, as a series and as
one multi-frame object, as the original volume restricted to the slice range and the box: the
same affine moved to the box's first voxel (and, downsampled, spacing x k with the block
centre's half-pixel shift), on an axial, an oblique and a gantry-tilted series; lossless and
not downsampled, the very same voxel values.

highdicom picks its own slice order (either end of the stack), the same for the original and
the Mini CT: the expected origin is the position of the range's slice at highdicom's slice 0
end. A gantry-tilted stack is read with a wide `perpendicular_tol` (see the preview's test and
docs/NOTES.md): highdicom's slice column is then the normal times the spacing, not the step.
"""

from __future__ import annotations

import io

import highdicom as hd
import numpy as np
import pytest
from minict_series import make_mini_ct, make_multiframe
from pydicom import dcmread
from pydicom.dataset import Dataset
from tests.unit.compressor.preview.preview_series import SeriesSpec, oblique, series_files, tilted

from dicompress_schemas import Codec
from dicompress_schemas.products import MiniCtFormat, MiniCtParams, RoiBox

GEOMETRIES = {
    "axial": SeriesSpec(n=8, size=96, padding=-2048),
    "oblique": SeriesSpec(n=8, size=96, orientation=oblique(), spacing=1.5),
    "gantry-tilted": SeriesSpec(n=8, size=96, orientation=tilted(15.0), step=(0.0, 0.0, -1.25)),
}
BOX = RoiBox(row=10, column=6, rows=40, columns=64)
BIG_BOX = RoiBox(row=10, column=6, rows=64, columns=80)  # 32 x 40 downsampled: JPEG 2000's floor
TOL = 0.1  # perpendicular_tol: past 1 - cos(15 degrees)


def originals(spec: SeriesSpec) -> tuple[list[tuple[str, bytes]], hd.Volume]:
    files = series_files(spec)
    datasets = [dcmread(io.BytesIO(data)) for _, data in files]
    return files, hd.get_volume_from_series(datasets, perpendicular_tol=TOL)


def mini_ct_volume(files: list[tuple[str, bytes]], params: MiniCtParams) -> hd.Volume:
    """The Mini CT as highdicom reads it, in the format `params` asks for."""
    if params.format is MiniCtFormat.MULTIFRAME:
        image = hd.imread(io.BytesIO(make_multiframe(files, params).data))
        return image.get_volume(perpendicular_tol=TOL)
    datasets = [dcmread(io.BytesIO(s.encoded.data)) for s in make_mini_ct(files, params)]
    return hd.get_volume_from_series(datasets, perpendicular_tol=TOL)


def expected_origin(
    files: list[tuple[str, bytes]], whole: hd.Volume, z: tuple[int, int], k: int, box: RoiBox
) -> np.ndarray:
    """The centre of the box's first (k x k block of) pixel(s) on the range's slice at
    highdicom's slice 0 end, from the ORIGINAL slices' positions."""
    positions = np.array(
        [
            [float(v) for v in dcmread(io.BytesIO(d), stop_before_pixels=True).ImagePositionPatient]
            for _, d in files
        ]
    )
    normal = np.cross(whole.affine[:3, 2], whole.affine[:3, 1])  # rows x columns direction
    ordered = positions[np.argsort(positions @ normal)]  # our anatomical order
    ranged = ordered[z[0] : z[1] + 1]
    first_is_lowest = np.allclose(whole.affine[:3, 3], ordered[0], atol=1e-5)
    if not first_is_lowest:
        np.testing.assert_allclose(whole.affine[:3, 3], ordered[-1], atol=1e-5)
    start = ranged[0] if first_is_lowest else ranged[-1]
    rows, columns = whole.affine[:3, 1], whole.affine[:3, 2]  # per row index, per column index
    return start + (box.row + (k - 1) / 2) * rows + (box.column + (k - 1) / 2) * columns


@pytest.mark.parametrize("fmt", list(MiniCtFormat))
@pytest.mark.parametrize("geometry", list(GEOMETRIES))
def test_a_lossless_mini_ct_is_the_original_volume_restricted(
    geometry: str, fmt: MiniCtFormat
) -> None:
    files, whole = originals(GEOMETRIES[geometry])
    params = MiniCtParams(z_start=2, z_end=6, roi=BOX, format=fmt)
    mini = mini_ct_volume(files, params)

    assert mini.spatial_shape == (5, BOX.rows, BOX.columns)
    np.testing.assert_allclose(mini.affine[:3, :3], whole.affine[:3, :3], atol=1e-6)
    np.testing.assert_allclose(
        mini.affine[:3, 3], expected_origin(files, whole, (2, 6), 1, BOX), atol=1e-5
    )
    first = 2 if _same_end(whole, mini) else whole.spatial_shape[0] - 7
    box = whole.array[
        first : first + 5, BOX.row : BOX.row + BOX.rows, BOX.column : BOX.column + BOX.columns
    ]
    np.testing.assert_array_equal(mini.array, box)  # identical voxels, rescaled the same
    if geometry != "gantry-tilted":  # highdicom's own cropping of the original agrees
        theirs = whole[first : first + 5, BOX.row : BOX.row + BOX.rows, BOX.column :]
        np.testing.assert_allclose(mini.affine, theirs.affine, atol=1e-5)


def _same_end(whole: hd.Volume, mini: hd.Volume) -> bool:
    """Whether highdicom starts both volumes at the low end of the normal (it does when their
    slice columns point the same way, which they must: one orientation)."""
    assert np.dot(whole.affine[:3, 0], mini.affine[:3, 0]) > 0
    normal = np.cross(whole.affine[:3, 2], whole.affine[:3, 1])
    return bool(np.dot(whole.affine[:3, 0], normal) > 0)


@pytest.mark.parametrize("fmt", list(MiniCtFormat))
@pytest.mark.parametrize("geometry", ["oblique", "gantry-tilted"])
def test_a_downsampled_lossy_mini_ct_keeps_its_place(geometry: str, fmt: MiniCtFormat) -> None:
    files, whole = originals(GEOMETRIES[geometry])
    params = MiniCtParams(
        z_start=1, z_end=7, roi=BIG_BOX, downsample=2, format=fmt, codec=Codec.J2K_LOSSY, rate=10
    )
    mini = mini_ct_volume(files, params)

    assert mini.spatial_shape == (7, BIG_BOX.rows // 2, BIG_BOX.columns // 2)
    np.testing.assert_allclose(mini.affine[:3, 0], whole.affine[:3, 0], atol=1e-6)
    np.testing.assert_allclose(mini.affine[:3, 1:3], whole.affine[:3, 1:3] * 2, atol=1e-6)
    np.testing.assert_allclose(
        mini.affine[:3, 3], expected_origin(files, whole, (1, 7), 2, BIG_BOX), atol=1e-5
    )


def test_the_multiframe_object_says_what_it_is() -> None:
    files, _ = originals(GEOMETRIES["oblique"])
    sources = [dcmread(io.BytesIO(d)) for _, d in files]
    params = MiniCtParams(z_start=0, z_end=3, roi=BOX, format=MiniCtFormat.MULTIFRAME)
    ds: Dataset = dcmread(io.BytesIO(make_multiframe(files, params).data))
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2.2"  # Legacy Converted Enhanced CT
    assert ds.NumberOfFrames == 4
    assert (ds.Rows, ds.Columns) == (BOX.rows, BOX.columns)
    assert ds.FrameOfReferenceUID == sources[0].FrameOfReferenceUID
    assert ds.SeriesInstanceUID != sources[0].SeriesInstanceUID
    assert list(ds.ImageType) == ["DERIVED", "PRIMARY", "VOLUME", "NONE"]
    assert "LossyImageCompression" not in ds or ds.LossyImageCompression == "00"
    shared = ds.SharedFunctionalGroupsSequence[0]
    assert [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing] == [0.7, 0.8]
    evidence = ds.SourceImageEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.SeriesInstanceUID == sources[0].SeriesInstanceUID
    assert len(evidence.ReferencedSOPSequence) == 4
    per_frame = ds.PerFrameFunctionalGroupsSequence
    along = [
        np.dot([float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient],
               np.cross(oblique()[:3], oblique()[3:]))
        for f in per_frame
    ]  # fmt: skip
    assert along == sorted(along)  # frame i + 1 is slice i, in anatomical order
    converted = {
        f.ConversionSourceAttributesSequence[0].ReferencedSOPInstanceUID for f in per_frame
    }
    assert converted <= {s.SOPInstanceUID for s in sources}  # real objects
