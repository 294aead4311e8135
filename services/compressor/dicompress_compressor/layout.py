"""Which source becomes slice i, and where everything goes in the ZIP: anatomical order.

Slices are indexed series by series, series in order of SeriesNumber then SeriesInstanceUID,
and within a series by position along the slice normal (`dicompress_schemas.geometry`: not by
file name, InstanceNumber or SliceLocation, which scrambled real series). Index 0 of an axial
series is therefore its most inferior slice (DICOM's +z points to the head). Slices without
geometry (no usable ImagePositionPatient/ImageOrientationPatient, a multi-frame object) follow
the positioned ones of their series in natural key order; objects whose header cannot be read
come last, in natural key order, and fail as slices as before.

The order is a pure function of the headers: a job re-run after a crash gets the same indexes,
so the slices the first run stored are reused for the same sources (slices.py checks).

ZIP layout: one folder per series, even when the source holds one series (one rule for every
job, and the folder says which series a file is): `{SeriesNumber:03d}-{SeriesDescription}/`
(`series` when it has none, `-2`, `-3`... when two series would share a name), holding
`{index:05d}.dcm`; unreadable objects at the root as `{index:05d}.dcm` (they never encode in
practice); DICOM objects without pixels under `other/`, by their path below the source prefix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from dicompress_compressor.headers import Kind, SourceHeader
from dicompress_compressor.ordering import entry_name, natural_key
from dicompress_schemas.geometry import (
    Orientation,
    SliceSpacing,
    gantry_tilt_deg,
    position_along_normal,
    sort_by_position,
    spacing_of,
)

OTHER_FOLDER = "other"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NAME_MAX = 64


@dataclass(frozen=True)
class Series:
    """One series of the job, with the geometry of its positioned slices."""

    uid: str  # as in the source files ("" when they carry none)
    number: int | None
    description: str
    folder: str
    orientation: Orientation | None  # of its first positioned slice: the normal it is sorted on
    slices: int
    positioned: int
    spacing: SliceSpacing | None
    gantry_tilt_deg: float | None


@dataclass(frozen=True)
class PlannedSlice:
    """Slice `index`: its source, its series (None: unreadable header) and its ZIP entry."""

    index: int
    header: SourceHeader
    series: Series | None
    position_along_normal: float | None
    entry_name: str


@dataclass(frozen=True)
class OtherObject:
    """A DICOM object without pixel data, copied as it is to `entry_name`."""

    header: SourceHeader
    entry_name: str


@dataclass(frozen=True)
class Layout:
    slices: list[PlannedSlice]
    series: list[Series]
    others: list[OtherObject]


def plan(headers: Iterable[SourceHeader], prefix: str = "") -> Layout:
    """The job's slices in index order, its series and its non-image objects. `prefix` is the
    source prefix, removed from non-image keys to name their entries."""
    by_key = sorted(headers, key=lambda h: natural_key(h.source.key))
    groups: dict[str, list[SourceHeader]] = {}
    for header in by_key:
        if header.kind is Kind.IMAGE:
            groups.setdefault(header.series_instance_uid, []).append(header)
    ordered = sorted(groups.values(), key=lambda g: _series_key(g[0]))
    slices: list[PlannedSlice] = []
    series_list: list[Series] = []
    folders: set[str] = set()
    for members in ordered:
        series, ranked = _order_series(members, folders)
        series_list.append(series)
        for header, distance in ranked:
            name = f"{series.folder}/{entry_name(len(slices))}"
            slices.append(PlannedSlice(len(slices), header, series, distance, name))
    for header in by_key:
        if header.kind is Kind.UNREADABLE:
            index = len(slices)
            slices.append(PlannedSlice(index, header, None, None, entry_name(index)))
    others = _others([h for h in by_key if h.kind is Kind.NON_IMAGE], prefix)
    return Layout(slices, series_list, others)


def _series_key(header: SourceHeader) -> tuple[bool, int, str]:
    """SeriesNumber (absent last), then the UID: the order a PACS lists series in."""
    number = header.series_number
    return number is None, number or 0, header.series_instance_uid


def _order_series(
    members: list[SourceHeader], folders: set[str]
) -> tuple[Series, list[tuple[SourceHeader, float | None]]]:
    """The series and its members in order, each with its distance along the normal."""
    first = members[0]
    positioned = [m for m in members if m.position is not None and m.orientation is not None]
    orientation = positioned[0].orientation if positioned else None
    ranked: list[tuple[SourceHeader, float | None]] = []
    spacing = tilt = None
    if orientation is not None:
        ordered = sort_by_position(positioned, _position_of, orientation)
        distances = [position_along_normal(_position_of(m), orientation) for m in ordered]
        ranked = list(zip(ordered, distances, strict=True))
        spacing = spacing_of(distances)
        tilt = gantry_tilt_deg(orientation, _position_of(ordered[0]), _position_of(ordered[-1]))
    placed = {id(m) for m in positioned}
    ranked += [(m, None) for m in members if id(m) not in placed]
    series = Series(
        uid=first.series_instance_uid,
        number=first.series_number,
        description=first.series_description,
        folder=_unique(_folder_name(first), folders),
        orientation=orientation,
        slices=len(members),
        positioned=len(positioned),
        spacing=spacing,
        gantry_tilt_deg=tilt,
    )
    return series, ranked


def _position_of(header: SourceHeader) -> tuple[float, float, float]:
    assert header.position is not None  # only positioned members are sorted
    return header.position


def _folder_name(header: SourceHeader) -> str:
    number = header.series_number if header.series_number is not None else 0
    return f"{number:03d}-{sanitise(header.series_description) or 'series'}"


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate.casefold() in taken:
        n += 1
        candidate = f"{name}-{n}"
    taken.add(candidate.casefold())
    return candidate


def sanitise(text: str) -> str:
    """A file-name-safe version of `text` (letters, digits, '.', '_', '-'), at most 64 long."""
    return _UNSAFE.sub("_", text.strip()).strip("._-")[:_NAME_MAX].rstrip("._-")


def _others(headers: list[SourceHeader], prefix: str) -> list[OtherObject]:
    """`other/` + the object's path below the prefix, each segment made safe, unique."""
    taken: set[str] = set()
    others = []
    for header in headers:
        relative = header.source.key.removeprefix(prefix)
        segments = [sanitise(s) for s in relative.split("/")]
        path = "/".join(s for s in segments if s) or "object"
        others.append(OtherObject(header, f"{OTHER_FOLDER}/{_unique(path, taken)}"))
    return others
