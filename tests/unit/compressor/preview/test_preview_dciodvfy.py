"""dciodvfy (Debian's dicom3tools) finds nothing in a preview slice that it did not already
find in the slices it was made from: binning, the new identity and the derivation attributes
are valid CT Image IOD content, in either codec a preview may ask for (HTJ2K by default).

Debian 12's dicom3tools predates HTJ2K (DICOM 2023): it reads the encapsulated Pixel Data of
.4.203 as native and fails. An HTJ2K slice is checked with its pixels decoded to native (every
other element as made), and the one finding that vintage cannot know is allowed: the defined
term ISO_15444_15 of LossyImageCompressionMethod."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from preview_series import SeriesSpec, make_preview, series_files
from pydicom import dcmread
from pydicom.uid import HTJ2K

from dicompress_schemas import Codec
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
@pytest.mark.parametrize("codec", [Codec.HTJ2K_LOSSY, Codec.J2K_LOSSY])  # the default first
def test_a_preview_slice_adds_no_dciodvfy_finding(
    tmp_path: Path, series: str, k: int, m: int, codec: Codec
) -> None:
    files = SERIES[series]()
    made = make_preview(files, k, m, codec)
    before: set[str] = set()
    for name, data in files:
        path = tmp_path / name
        path.write_bytes(data)
        before |= findings(path)
    for index, preview in enumerate(made):
        path = tmp_path / f"preview-{index}.dcm"
        path.write_bytes(checkable(preview.encoded.data, codec))
        assert findings(path) - before - AFTER_DICOMTOOLS_2022[codec] == set()


AFTER_DICOMTOOLS_2022 = {
    Codec.J2K_LOSSY: set(),
    Codec.HTJ2K_LOSSY: {
        "Warning - Unrecognized defined term <ISO_15444_15> for value 1 of attribute "
        "<Lossy Image Compression Method>"
    },
}


def checkable(data: bytes, codec: Codec) -> bytes:
    """The slice as dciodvfy can read it: an HTJ2K slice with its pixels decoded to native."""
    if codec is not Codec.HTJ2K_LOSSY:
        return data
    ds = dcmread(io.BytesIO(data))
    assert ds.file_meta.TransferSyntaxUID == HTJ2K
    ds.decompress()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()
