"""Which stored objects a download holds, and their names in the ZIP. Pure.

Entries are named `{SeriesInstanceUID}/{index:05d}.dcm` for images, `index` being the image's
place in its series' anatomical order (as GET /studies/{id}/series/{uid} lists the slices), so
a slice keeps its name in every download of the series or of a range of it; objects without
pixels (reports, presentation states) follow as `{SeriesInstanceUID}/{SOPInstanceUID}.dcm`,
in the download of a whole study or series only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from dicompress_api.studies.summary import IndexedInstance, series_geometry
from dicompress_api.web.errors import ApiError


class RangeRefused(ApiError):
    """The slice range is not in the series; the message gives the valid one."""


@dataclass(frozen=True)
class Entry:
    name: str  # in the ZIP
    key: str  # in the study's bucket
    bytes: int


def entries(
    instances: Sequence[IndexedInstance],
    z_start: int | None = None,
    z_end: int | None = None,
) -> list[Entry]:
    """The entries of these instances (a study's, or one series' when a range is given),
    series by series in UID order."""
    by_series: dict[str, list[IndexedInstance]] = defaultdict(list)
    for instance in instances:
        by_series[instance.series_instance_uid or "no-series"].append(instance)
    ranged = z_start is not None or z_end is not None
    chosen: list[Entry] = []
    for uid in sorted(by_series):
        members = by_series[uid]
        slices = series_geometry(i for i in members if i.is_image).slices
        first, last = _range(len(slices), z_start, z_end) if ranged else (0, len(slices) - 1)
        chosen += [
            Entry(f"{uid}/{index:05d}.dcm", s.instance.key, s.instance.bytes)
            for index, s in enumerate(slices)
            if first <= index <= last
        ]
        if not ranged:
            chosen += [
                Entry(f"{uid}/{i.sop_instance_uid}.dcm", i.key, i.bytes)
                for i in sorted(members, key=lambda i: i.sop_instance_uid)
                if not i.is_image
            ]
    return chosen


def _range(count: int, z_start: int | None, z_end: int | None) -> tuple[int, int]:
    valid = f"valid 0..{count - 1}" if count else "the series has no image"
    first = 0 if z_start is None else z_start
    last = count - 1 if z_end is None else z_end
    if first < 0 or first >= count:
        raise RangeRefused(f"zStart {first} is not a slice of the series: {valid}")
    if last < 0 or last >= count:
        raise RangeRefused(f"zEnd {last} is not a slice of the series: {valid}")
    if last < first:
        raise RangeRefused(f"zEnd {last} is before zStart {first}: {valid}")
    return first, last
