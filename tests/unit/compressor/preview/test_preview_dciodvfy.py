"""dciodvfy (Debian's dicom3tools) finds nothing in a preview slice that it did not already
find in the slices it was made from: binning, the new identity and the derivation attributes
are valid CT Image IOD content."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from preview_series import SeriesSpec, make_preview, series_files

from dicompress_stack.synthetic_ct import generate_series

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


SERIES = {
    "signed-padded": lambda: series_files(SeriesSpec(n=4, size=64, padding=-2048)),
    "synthetic-ct": lambda: list(generate_series(n_slices=4, size=128, seed=5)),
}


@pytest.mark.parametrize("series", list(SERIES))
@pytest.mark.parametrize(("k", "m"), [(2, 1), (2, 2)], ids=str)
def test_a_preview_slice_adds_no_dciodvfy_finding(
    tmp_path: Path, series: str, k: int, m: int
) -> None:
    files = SERIES[series]()
    made = make_preview(files, k, m)
    before: set[str] = set()
    for name, data in files:
        path = tmp_path / name
        path.write_bytes(data)
        before |= findings(path)
    for index, preview in enumerate(made):
        path = tmp_path / f"preview-{index}.dcm"
        path.write_bytes(preview.encoded.data)
        assert findings(path) - before == set()
