"""dciodvfy (Debian's dicom3tools) finds nothing in a Mini CT, a series slice or the
multi-frame object (a Legacy Converted Enhanced CT Image), that it did not already find in the
slices it was made from; lossless and lossy, cropped and downsampled."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from minict_series import make_mini_ct, make_multiframe
from tests.unit.compressor.preview.preview_series import SeriesSpec, series_files

from dicompress_schemas import Codec
from dicompress_schemas.products import MiniCtFormat, MiniCtParams, RoiBox

DCIODVFY = shutil.which("dciodvfy")
MISSING = (
    "dciodvfy is not installed: `make system-tools` as root, or `apt-get install -y dicom3tools`"
)


def findings(path: Path) -> set[str]:
    """dciodvfy's errors and warnings, without the line naming the IOD."""
    if DCIODVFY is None:
        pytest.fail(MISSING)
    run = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, timeout=60)
    lines = (run.stdout + run.stderr).splitlines()
    return {line.strip() for line in lines if "Error" in line or "Warning" in line}


PARAMS = {
    "lossless": MiniCtParams(z_start=1, z_end=3, roi=RoiBox(row=4, column=8, rows=48, columns=40)),
    "lossy-downsampled": MiniCtParams(
        z_start=0, z_end=3, downsample=2, codec=Codec.J2K_LOSSY, rate=10
    ),
}


@pytest.mark.parametrize("fmt", list(MiniCtFormat))
@pytest.mark.parametrize("case", list(PARAMS))
def test_a_mini_ct_adds_no_dciodvfy_finding(tmp_path: Path, case: str, fmt: MiniCtFormat) -> None:
    files = series_files(SeriesSpec(n=4, size=64, padding=-2048))
    params = PARAMS[case].model_copy(update={"format": fmt})
    before: set[str] = set()
    for name, data in files:
        path = tmp_path / name
        path.write_bytes(data)
        before |= findings(path)
    outputs = (
        [make_multiframe(files, params).data]
        if fmt is MiniCtFormat.MULTIFRAME
        else [made.encoded.data for made in make_mini_ct(files, params)]
    )
    for index, data in enumerate(outputs):
        path = tmp_path / f"mini-ct-{index}.dcm"
        path.write_bytes(data)
        assert findings(path) - before == set()
