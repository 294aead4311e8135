"""A second independent reader: Debian's dcm2niix turns the original and its Mini CT (series and
multi-frame) into NIfTI, and the Mini CT's affine is the original's moved to the box's first
voxel: inv(A_original) @ A_mini is a pure shift by the box's offset in the original's voxel
indexes (dcm2niix flips rows, so an axis may count from the far end).

Gantry-tilted series are not compared: dcm2niix (1.0.20220720) writes a sheared stack as an
orthogonal NIfTI whose slice column it estimates (1.166 mm from single frames, 1.207 mm from the
multi-frame object, for a 15 degree tilt and a 1.25 mm table step) and whose origin it moves, so
its affine is not the grid's and a crop is not a whole-voxel shift of it (measured: rows 39.9
instead of 46, slices 2.59 instead of 2). Their true geometry is checked by highdicom
(test_minict_volume.py); docs/NOTES.md says so.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from minict_series import make_mini_ct, make_multiframe
from tests.unit.compressor.preview.preview_series import (
    SeriesSpec,
    normal,
    oblique,
    series_files,
)

from dicompress_schemas.products import MiniCtFormat, MiniCtParams, RoiBox

DCM2NIIX = shutil.which("dcm2niix")
MISSING = "dcm2niix is not installed: `make system-tools` as root, or `apt-get install -y dcm2niix`"
GEOMETRIES = {
    "axial": SeriesSpec(n=8, size=96),
    "oblique": SeriesSpec(n=8, size=96, orientation=oblique(), spacing=1.5),
}
CASES = [(g, f) for g in GEOMETRIES for f in MiniCtFormat]
PARAMS = {"z_start": 2, "z_end": 6, "roi": RoiBox(row=10, column=6, rows=40, columns=64)}


def nifti_affine(folder: Path) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The sform (RAS, mm) and grid of the one uncorrected volume dcm2niix makes of `folder`."""
    if DCM2NIIX is None:
        pytest.fail(MISSING)
    out = folder / "nifti"
    out.mkdir()
    subprocess.run(
        [DCM2NIIX, "-z", "n", "-b", "n", "-f", "volume", "-o", str(out), str(folder)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    header = (out / "volume.nii").read_bytes()[:348]  # the _Tilt_1 file is a resampled copy
    dims = struct.unpack("<8h", header[40:56])
    affine = np.eye(4)
    affine[:3] = np.array(struct.unpack("<12f", header[280:328])).reshape(3, 4)
    return affine, (dims[1], dims[2], dims[3])


def expected_shift(affine: np.ndarray, shape: tuple[int, ...], spec: SeriesSpec) -> np.ndarray:
    """The box's first voxel in the original NIfTI's indexes: for each axis, the DICOM axis it
    runs along (columns, rows or slices) and whether it counts from that axis' far end."""
    lps = np.diag([-1.0, -1.0, 1.0]) @ affine[:3, :3]
    roi = PARAMS["roi"]
    assert isinstance(roi, RoiBox)
    axes = {  # direction, first index kept, last index kept, size
        "columns": (np.array(spec.orientation[:3]), roi.column, roi.column + roi.columns - 1),
        "rows": (np.array(spec.orientation[3:]), roi.row, roi.row + roi.rows - 1),
        "slices": (np.array(normal(spec.orientation)), PARAMS["z_start"], PARAMS["z_end"]),
    }
    shift = []
    for axis in range(3):
        column = lps[:, axis] / np.linalg.norm(lps[:, axis])
        name = max(axes, key=lambda a: abs(float(column @ axes[a][0])))
        direction, first, last = axes[name]
        ascending = float(column @ direction) > 0
        shift.append(first if ascending else shape[axis] - 1 - last)
    return np.array(shift, dtype=float)


@pytest.mark.parametrize(("geometry", "fmt"), CASES, ids=[f"{g}-{f.value}" for g, f in CASES])
def test_dcm2niix_reads_the_mini_ct_as_the_original_restricted(
    tmp_path: Path, geometry: str, fmt: MiniCtFormat
) -> None:
    spec = GEOMETRIES[geometry]
    files = series_files(spec)
    params = MiniCtParams(format=fmt, **PARAMS)  # type: ignore[arg-type]
    original, mini = tmp_path / "original", tmp_path / "mini"
    original.mkdir()
    mini.mkdir()
    for name, data in files:
        (original / name).write_bytes(data)
    if fmt is MiniCtFormat.MULTIFRAME:
        (mini / "mini-ct.dcm").write_bytes(make_multiframe(files, params).data)
    else:
        for i, made in enumerate(make_mini_ct(files, params)):
            (mini / f"{i:05d}.dcm").write_bytes(made.encoded.data)

    a, a_shape = nifti_affine(original)
    b, b_shape = nifti_affine(mini)

    assert sorted(b_shape) == sorted((40, 64, 5))
    relative = np.linalg.inv(a) @ b  # the Mini CT's voxel indexes in the original's
    np.testing.assert_allclose(relative[:3, :3], np.eye(3), atol=1e-4)  # float32 sform
    np.testing.assert_allclose(relative[:3, 3], expected_shift(a, a_shape, spec), atol=1e-3)
