"""David Clunie's dciodvfy (Debian's dicom3tools) finds nothing in our output that it did not
already find in the input. Skipped where dciodvfy is not installed (`apt-get install -y
dicom3tools`). Debian 12's dicom3tools predates the HTJ2K transfer syntaxes (it reads their
encapsulated Pixel Data as native and fails), so only the JPEG 2000 Part 1 codecs are checked."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from dicompress_compressor.encoder import EncodeOptions, encode_slice
from dicompress_schemas import Codec
from dicompress_stack.synthetic_ct import slice_bytes

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


@pytest.mark.parametrize(
    "options",
    [
        EncodeOptions(Codec.J2K_LOSSY, rate=100),
        EncodeOptions(Codec.J2K_LOSSLESS, rate=None),
        EncodeOptions(Codec.J2K_LOSSY, rate=10, anonymize_seed="job-1"),
    ],
    ids=["j2k-lossy", "j2k-lossless", "j2k-lossy-anonymized"],
)
def test_output_adds_no_dciodvfy_finding(tmp_path: Path, options: EncodeOptions) -> None:
    source = tmp_path / "in.dcm"
    source.write_bytes(slice_bytes(150))
    output = tmp_path / "out.dcm"
    output.write_bytes(encode_slice(source.read_bytes(), options).data)

    before = findings(source)
    assert any("ReferringPhysicianName" in f for f in before)  # dciodvfy did run and report
    assert findings(output) - before == set()
