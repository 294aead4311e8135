"""Coded entries (PS3.3 Code Sequence Macro) from the DICOM Controlled Terminology."""

from __future__ import annotations

from pydicom.dataset import Dataset


def dcm_code(value: str, meaning: str) -> Dataset:
    """A code sequence item of scheme "DCM" (PS3.16), e.g. 113040 "Lossy Compression"."""
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item
