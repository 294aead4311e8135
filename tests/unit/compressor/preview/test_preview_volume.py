"""The issue's check: an independent reader (highdicom) rebuilds the preview series as a volume
whose affine is the original's with spacing x k in-plane and x m along Z, its origin moved by
the binning offset: on an axial, an oblique and a gantry-tilted series.

highdicom picks its own handedness, so its slice 0 may be either end of a series: the origin
is checked against the end highdicom chose (positions, not indexes). highdicom models every
stack as perpendicular to its planes, so a gantry-tilted one is read with a wide
`perpendicular_tol`, and its true step between slices (along the table, not the normal) is
taken from the positions.
"""

from __future__ import annotations

import io

import highdicom as hd
import numpy as np
import pytest
from preview_series import AXIAL, SeriesSpec, make_preview, normal, oblique, series_files, tilted
from pydicom import dcmread
from pydicom.dataset import Dataset

GEOMETRIES = {
    "axial": SeriesSpec(n=8, size=128),
    "oblique": SeriesSpec(n=8, size=128, orientation=oblique(), spacing=1.5),
    # a 15 degree gantry tilt: the table advances 1.25 mm along z, the planes lean
    "gantry-tilted": SeriesSpec(n=8, size=128, orientation=tilted(15.0), step=(0.0, 0.0, -1.25)),
}


def _volume(datasets: list[Dataset]) -> tuple[np.ndarray, np.ndarray]:
    """highdicom's affine and spatial shape."""
    volume = hd.get_volume_from_series(datasets, perpendicular_tol=0.1)
    return volume.affine, np.array(volume.spatial_shape)


def _positions(datasets: list[Dataset], orientation: tuple[float, ...]) -> np.ndarray:
    n = np.array(normal(orientation))  # type: ignore[arg-type]
    positions = np.array([[float(v) for v in ds.ImagePositionPatient] for ds in datasets])
    return positions[np.argsort(positions @ n)]


@pytest.mark.parametrize(("k", "m"), [(2, 1), (2, 2), (4, 4)], ids=lambda v: str(v))
@pytest.mark.parametrize("geometry", list(GEOMETRIES))
def test_highdicom_reads_the_preview_as_the_binned_volume(geometry: str, k: int, m: int) -> None:
    spec = GEOMETRIES[geometry]
    files = series_files(spec)
    originals = [dcmread(io.BytesIO(data)) for _, data in files]
    previews = [dcmread(io.BytesIO(p.encoded.data)) for p in make_preview(files, k, m)]

    a, _ = _volume(originals)
    b, b_shape = _volume(previews)

    assert b_shape.tolist() == [spec.n // m, spec.size // k, spec.size // k]
    np.testing.assert_allclose(b[:3, 0], a[:3, 0] * m, atol=1e-6)  # slice step x m
    np.testing.assert_allclose(b[:3, 1:3], a[:3, 1:3] * k, atol=1e-6)  # pixel spacing x k
    # the origin: the Z-group at highdicom's slice 0 end, its mean position (half its extent
    # along the stack's own step) moved to the centre of the first k x k block
    theirs = _positions(originals, spec.orientation)
    true_step = np.diff(theirs, axis=0).mean(axis=0)
    if np.allclose(a[:3, 3], theirs[-1], atol=1e-5):  # highdicom starts at the top
        true_step = -true_step
    else:
        np.testing.assert_allclose(a[:3, 3], theirs[0], atol=1e-5)
    if geometry != "gantry-tilted":
        np.testing.assert_allclose(true_step, a[:3, 0], atol=1e-5)  # highdicom agrees
    offset = (k - 1) / 2 * (a[:3, 1] + a[:3, 2])
    expected_origin = a[:3, 3] + (m - 1) / 2 * true_step + offset
    np.testing.assert_allclose(b[:3, 3], expected_origin, atol=1e-5)
    # and every preview slice where its group is, not only the first
    ours = _positions(previews, spec.orientation)
    groups = theirs[: (spec.n // m) * m].reshape(spec.n // m, m, 3).mean(axis=1) + offset
    np.testing.assert_allclose(ours, groups, atol=1e-5)
    assert {ds.FrameOfReferenceUID for ds in previews} == {originals[0].FrameOfReferenceUID}


def test_the_series_is_a_regular_volume_when_a_remainder_is_left_out() -> None:
    files = series_files(SeriesSpec(n=10, size=64, orientation=AXIAL))
    previews = [dcmread(io.BytesIO(p.encoded.data)) for p in make_preview(files, 2, 4)]
    assert len(previews) == 2
    b, shape = _volume(previews)
    assert shape.tolist() == [2, 32, 32]
    assert np.abs(b[:3, 0]) == pytest.approx([0.0, 0.0, 5.0])
