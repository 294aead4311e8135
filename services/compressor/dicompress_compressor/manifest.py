"""`manifest.json`, the ZIP's last entry: what each slice was and what became of it.

A viewer or an auditor reads it without opening any DICOM file: per slice the source key, the
SOP Instance UIDs (new and original), its series and position (ImagePositionPatient and the
distance along the slice normal it is ordered by), sizes, the measured ratio and the quality
figures; per series its folder, orientation, spacing and gantry tilt; and the objects without
pixel data, copied under `other/` or left out.
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
    psnr_db: float | None = None  # SliceEncoded v2's: over the slice's own value range
    max_error_hu: float | None = None  # modality units (HU for CT)
    max_abs_error: int | None = None  # stored units
    error: str | None = None
    series_instance_uid: str | None = None
    position: tuple[float, float, float] | None = None
    position_along_normal: float | None = None


@dataclass(frozen=True)
class OtherEntry:
    """A DICOM object without pixel data: copied to `entry_name`, or left out (`left_out` says
    why)."""

    source_key: str
    bytes_in: int
    sop_class_uid: str | None
    entry_name: str | None = None
    left_out: str | None = None


def render_manifest(
    header: dict[str, Any],
    entries: list[ManifestEntry],
    series: list[dict[str, Any]] | None = None,
    others: list[OtherEntry] | None = None,
) -> bytes:
    """The manifest's bytes: the job's `header` fields, its `series`, then `slices` in index
    order and the `other` objects."""
    document = {
        **header,
        "series": series or [],
        "slices": [asdict(e) for e in sorted(entries, key=lambda e: e.index)],
        "other": [asdict(o) for o in others or []],
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2)
