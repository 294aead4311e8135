"""A large synthetic study as a ZIP file, quickly: a few slices rendered by `synthetic_ct`, then
re-stamped with pydicom (new SOP Instance UID, position, instance number) as many times as asked.

Every slice is a distinct 512x512 CT object (~0.5 MB) with a unique SOP Instance UID; the slices
are grouped in series of `per_series` (each with its own Series Instance UID), all in one study
whose UIDs are fresh per archive, so no archive's instances are already in S3 from another run.
Written to a seekable file, so each member's sizes are in its local header and the ingest can
stream it (no data descriptor).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.filewriter import dcmwrite
from pydicom.uid import generate_uid

from dicompress_stack.synthetic_ct import FIELD_OF_VIEW_MM, SLICE_THICKNESS_MM, slice_bytes

# rendered slices re-used as pixel data; spread over the series so they differ visibly
TEMPLATE_INDEXES = (60, 150, 240, 330)
SIZE = 512
COMPRESSIONS = {"stored": zipfile.ZIP_STORED, "deflated": zipfile.ZIP_DEFLATED}


@dataclass(frozen=True)
class StudyArchive:
    """A ZIP on local disk and what is in it."""

    path: Path
    size: int
    members: int
    series: int
    compression: str


def build_study_zip(path: Path, slices: int, per_series: int, compression: str) -> StudyArchive:
    """Write a ZIP of `slices` distinct CT slices (series of `per_series`) to `path`."""
    templates = [
        dcmread(io.BytesIO(slice_bytes(index, 399, SIZE, seed=12))) for index in TEMPLATE_INDEXES
    ]
    study_uid = generate_uid()
    frame_uid = generate_uid()
    origin = -FIELD_OF_VIEW_MM / 2 + FIELD_OF_VIEW_MM / SIZE / 2
    series_count = 0
    with zipfile.ZipFile(path, "w", COMPRESSIONS[compression], allowZip64=True) as archive:
        for number in range(slices):
            series, index = divmod(number, per_series)
            if index == 0:
                series_uid = generate_uid()
                series_count += 1
            ds = templates[number % len(templates)]
            sop_uid = generate_uid()
            z = -index * SLICE_THICKNESS_MM
            ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
            ds.SOPInstanceUID = sop_uid
            ds.StudyInstanceUID = study_uid
            ds.SeriesInstanceUID = series_uid
            ds.FrameOfReferenceUID = frame_uid
            ds.SeriesNumber = series + 2
            ds.InstanceNumber = index + 1
            ds.ImagePositionPatient = [f"{origin:.6g}", f"{origin:.6g}", f"{z:.6g}"]
            ds.SliceLocation = f"{z:.6g}"
            buffer = io.BytesIO()
            dcmwrite(buffer, ds, enforce_file_format=True)
            archive.writestr(f"S{series + 1:02d}/IM{index + 1}.dcm", buffer.getvalue())
    return StudyArchive(path, path.stat().st_size, slices, series_count, compression)
