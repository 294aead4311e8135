"""One CT series as a ZIP, with UIDs of its own each time, so every upload is a new series.

The slices are `synthetic_ct`'s phantom (a body that changes along Z: lungs, liver, spine, ribs),
so the reformats and the volume rendering see a real volume, not a few slices repeated. They
are rendered once into a temp dir (`SeriesTemplate`); each `build_zip` re-stamps them with fresh
Study, Series, Frame of Reference and SOP Instance UIDs. The same UIDs on a second upload would
name the same products (their identity is the series' version), answered as they stand: nothing
would be made, nothing measured.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.filewriter import dcmwrite
from pydicom.uid import generate_uid

from dicompress_stack.synthetic_ct import write_series


@dataclass(frozen=True)
class SeriesArchive:
    """A ZIP on local disk holding one series, and its UIDs."""

    path: Path
    size: int
    members: int
    study_instance_uid: str
    series_instance_uid: str


class SeriesTemplate:
    """The rendered slices of one series (`slices` x `size` x `size`), in `directory`."""

    def __init__(self, directory: Path, slices: int, size: int = 512) -> None:
        self.slices = slices
        self.size = size
        self.paths = write_series(directory, slices, size)

    def build_zip(self, path: Path) -> SeriesArchive:
        """A STORED ZIP of the series at `path`, every UID fresh."""
        study_uid, series_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
            for source in self.paths:
                ds = dcmread(source)
                sop_uid = generate_uid()
                ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
                ds.SOPInstanceUID = sop_uid
                ds.StudyInstanceUID = study_uid
                ds.SeriesInstanceUID = series_uid
                ds.FrameOfReferenceUID = frame_uid
                buffer = io.BytesIO()
                dcmwrite(buffer, ds, enforce_file_format=True)
                archive.writestr(f"CT/{source.name}", buffer.getvalue())
        return SeriesArchive(
            path, path.stat().st_size, len(self.paths), str(study_uid), str(series_uid)
        )
