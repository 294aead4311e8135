"""`manifest.json`, the ZIP's last entry: what each slice was and what became of it.

A viewer or an auditor reads it without opening any DICOM file: per slice the source key, the
SOP Instance UIDs (new and original), sizes, the measured ratio and the quality figures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import orjson

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class ManifestEntry:
    """One slice of the job: encoded (with `entry_name`) or failed (with `error`)."""

    index: int
    source_key: str
    bytes_in: int
    entry_name: str | None = None
    slice_key: str | None = None
    sop_instance_uid: str | None = None
    source_sop_instance_uid: str | None = None
    bytes_out: int | None = None
    ratio: float | None = None
    psnr: float | None = None
    max_abs_error: int | None = None
    error: str | None = None


def render_manifest(header: dict[str, Any], entries: list[ManifestEntry]) -> bytes:
    """The manifest's bytes: the job's `header` fields, then `slices` in index order."""
    document = {**header, "slices": [asdict(e) for e in sorted(entries, key=lambda e: e.index)]}
    return orjson.dumps(document, option=orjson.OPT_INDENT_2)
