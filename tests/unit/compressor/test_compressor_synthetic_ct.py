"""The synthetic CT generator: deterministic, DICOM-correct, and CT-like in its values."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from dicompress_stack.synthetic_ct import (
    PRIVATE_CREATOR,
    PRIVATE_GROUP,
    generate_series,
    render_slice,
    slice_bytes,
    write_series,
)


def test_the_same_seed_gives_the_same_bytes() -> None:
    first = list(generate_series(n_slices=3, size=128, seed=7))
    again = list(generate_series(n_slices=3, size=128, seed=7))
    other = list(generate_series(n_slices=3, size=128, seed=8))
    assert first == again
    assert [data for _, data in first] != [data for _, data in other]
    assert slice_bytes(2, n_slices=3, size=128, seed=7) == first[2][1]


def test_slices_carry_the_ct_image_attributes() -> None:
    series = [dcmread(io.BytesIO(data)) for _, data in generate_series(n_slices=4)]
    first = series[0]
    assert first.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert first.SOPClassUID == CTImageStorage
    assert (first.Rows, first.Columns) == (512, 512)
    assert (first.BitsAllocated, first.BitsStored, first.HighBit) == (16, 12, 11)
    assert first.PixelRepresentation == 0
    assert first.PhotometricInterpretation == "MONOCHROME2"
    assert (float(first.RescaleIntercept), float(first.RescaleSlope)) == (-1024.0, 1.0)
    assert first.PatientID
    assert first.PatientName
    assert first.WindowCenter
    assert len({ds.StudyInstanceUID for ds in series}) == 1
    assert len({ds.SeriesInstanceUID for ds in series}) == 1
    assert len({ds.SOPInstanceUID for ds in series}) == 4
    assert [ds.InstanceNumber for ds in series] == [1, 2, 3, 4]
    assert [float(ds.SliceLocation) for ds in series] == [0.0, -1.25, -2.5, -3.75]
    assert [float(ds.ImagePositionPatient[2]) for ds in series] == [0.0, -1.25, -2.5, -3.75]
    assert float(first.SliceThickness) == 1.25
    assert len(first.PixelSpacing) == 2
    assert first.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)[0x10].value == "synthetic phantom"


@pytest.mark.parametrize("index", [0, 150, 398])
def test_stored_values_are_12_bit(index: int) -> None:
    stored = render_slice(index)
    assert stored.dtype == np.uint16
    assert int(stored.max()) <= 4095


def test_a_chest_slice_has_air_lungs_soft_tissue_and_bone() -> None:
    hu = render_slice(150).astype(np.float64) - 1024
    corner = hu[:40, :40]
    assert corner.mean() == pytest.approx(-1000, abs=5)  # air outside the body
    assert 10 <= corner.std() <= 20  # CT-like noise
    assert np.mean(np.abs(hu + 850) < 60) > 0.05  # lungs
    assert np.mean(np.abs(hu - 40) < 40) > 0.10  # soft tissue
    assert np.mean(hu > 650) > 0.002  # spine and ribs


def test_the_lungs_come_and_go_along_the_series() -> None:
    def lung_fraction(index: int) -> float:
        return float(np.mean(np.abs(render_slice(index).astype(np.float64) - 1024 + 850) < 60))

    assert lung_fraction(120) > lung_fraction(10) > 0.0
    assert lung_fraction(360) < 0.01  # the pelvis has no lungs


def test_write_series_writes_the_files_in_slice_order(tmp_path: Path) -> None:
    paths = write_series(tmp_path / "series", n_slices=3, size=64, seed=1)
    assert [p.name for p in paths] == ["IM1.dcm", "IM2.dcm", "IM3.dcm"]
    assert [dcmread(p).InstanceNumber for p in paths] == [1, 2, 3]
