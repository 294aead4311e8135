"""A small study as scanners and PACS export it, in memory: series of synthetic CT slices with
their own numbers, descriptions and geometry, non-image objects (a DICOMDIR, a structured
report), a file that is not DICOM. File names can be UUIDs that say nothing of the order."""

from __future__ import annotations

import io
import uuid

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import (
    BasicTextSRStorage,
    ExplicitVRLittleEndian,
    MediaStorageDirectoryStorage,
    generate_uid,
)

from dicompress_stack.synthetic_ct import slice_bytes

SIZE = 64  # small slices: the order and the layout are under test, not the codec


def restyled(data: bytes, **attributes: object) -> bytes:
    """`data` with attributes set (None deletes), written again."""
    ds = dcmread(io.BytesIO(data))
    for keyword, value in attributes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    out = io.BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()


def series(
    count: int, *, seed: int, number: int, description: str, **attributes: object
) -> list[bytes]:
    """`count` slices of one series, head to feet (z = 0, -1.25, ...), as the generator makes
    them, with the series' number and description set."""
    return [
        restyled(
            slice_bytes(i, count, SIZE, seed),
            SeriesNumber=number,
            SeriesDescription=description,
            **attributes,
        )
        for i in range(count)
    ]


def uuid_name(seed: str) -> str:
    return f"{uuid.uuid5(uuid.NAMESPACE_URL, seed)}.dcm"


def _document(sop_class: str, **attributes: object) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid(entropy_srcs=["compressor-study", sop_class])
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    out = io.BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()


def structured_report() -> bytes:
    """A dose-report-like SR: patient data, no pixels."""
    return _document(
        BasicTextSRStorage,
        PatientName="DOE^JANE",
        Modality="SR",
        SeriesInstanceUID=generate_uid(entropy_srcs=["compressor-study", "sr-series"]),
        SeriesNumber=900,
    )


def dicomdir() -> bytes:
    return _document(MediaStorageDirectoryStorage, FileSetID="STUDY", DirectoryRecordSequence=[])


def with_private_block(data: bytes, size: int) -> bytes:
    """`data` with a private OB element of `size` bytes before the pixels: a long header."""
    ds = dcmread(io.BytesIO(data))
    block = ds.private_block(0x0029, "VENDOR HEADER", create=True)
    block.add_new(0x10, "OB", bytes(size))
    out = io.BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()
