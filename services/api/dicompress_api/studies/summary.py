"""What a series is, from its indexed instances: slices in anatomical order with their spacing and
gantry tilt, and the pixel facts a viewer needs. Pure; the geometry is the contract's
(`dicompress_schemas.geometry`), so the API orders slices exactly as the compressor does.

- The series' orientation is the ImageOrientationPatient most of its images share (within
  `ORIENTATION_TOLERANCE`); `orientation_uniform` says whether all of them do.
- Slices are the images with a position and an orientation, sorted by position along the normal
  of the series' orientation (ties keep the order of InstanceNumber, then SOP Instance UID);
  images without geometry (a secondary capture, a broken header) follow, by InstanceNumber.
- Spacing and gantry tilt come from the slices that share the series' orientation: a scout in
  another plane must not make a regular stack look irregular.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from dicompress_schemas import ImageHeader
from dicompress_schemas.geometry import (
    GeometryError,
    Orientation,
    SliceSpacing,
    Vector,
    gantry_tilt_deg,
    position_along_normal,
    slice_normal,
    sort_by_position,
    spacing_of,
)

T = TypeVar("T")
H = TypeVar("H", bound=Hashable)

ORIENTATION_TOLERANCE = 1e-4
"""Largest difference of any direction cosine between two orientations called the same.

IOP is a decimal string: one scanner writes 1\\0\\0, another 0.99999999\\1.2e-8\\0 for the same
plane. A real difference of plane (a tilted localizer, a reformat) is far larger."""

IMAGE = "image"


@dataclass(frozen=True)
class IndexedInstance:
    """What the summary reads of one `study_instances` row."""

    sop_instance_uid: str
    series_instance_uid: str | None
    kind: str
    sop_class_uid: str
    transfer_syntax_uid: str
    modality: str | None
    key: str
    bytes: int
    member: str
    header: ImageHeader | None

    @property
    def is_image(self) -> bool:
        return self.kind == IMAGE

    @property
    def geometry(self) -> tuple[Vector, Orientation] | None:
        """(IPP, IOP) if the image has both and the orientation defines a plane."""
        header = self.header
        if header is None or header.image_position is None or header.image_orientation is None:
            return None
        try:
            slice_normal(header.image_orientation)
        except GeometryError:
            return None
        return header.image_position, header.image_orientation


def indexed_instance(row: Mapping[str, Any]) -> IndexedInstance:
    """An instance from its row; `header` is the jsonb text of the contract's ImageHeader."""
    header = row.get("header")
    return IndexedInstance(
        sop_instance_uid=row["sop_instance_uid"],
        series_instance_uid=row.get("series_instance_uid"),
        kind=row["kind"],
        sop_class_uid=row["sop_class_uid"],
        transfer_syntax_uid=row["transfer_syntax_uid"],
        modality=row.get("modality"),
        key=row["key"],
        bytes=row["bytes"],
        member=row.get("member") or "",
        header=ImageHeader.model_validate_json(header) if header else None,
    )


@dataclass(frozen=True)
class Slice:
    """An image in its series' order; `position` along the series' normal (mm), None without
    geometry."""

    instance: IndexedInstance
    position: float | None


@dataclass(frozen=True)
class SeriesGeometry:
    orientation: Orientation | None
    orientation_uniform: bool
    slices: tuple[Slice, ...]
    without_geometry: int
    spacing: SliceSpacing | None
    gantry_tilt_deg: float | None


def series_geometry(images: Iterable[IndexedInstance]) -> SeriesGeometry:
    """The images of one series in anatomical order, with spacing and tilt (module doc)."""
    ordered = sorted(images, key=_instance_order)
    placed = [(image, geometry) for image in ordered if (geometry := image.geometry) is not None]
    unplaced = [image for image in ordered if image.geometry is None]
    groups = _group(placed, key=lambda item: item[1][1], same=_same_orientation)
    if not groups:
        return SeriesGeometry(
            orientation=None,
            orientation_uniform=True,
            slices=tuple(Slice(image, None) for image in unplaced),
            without_geometry=len(unplaced),
            spacing=None,
            gantry_tilt_deg=None,
        )
    stack = max(groups, key=len)  # the first of the largest groups
    orientation = stack[0][1][1]
    in_order = sort_by_position(placed, lambda item: item[1][0], orientation)
    stack_order = sort_by_position(stack, lambda item: item[1][0], orientation)
    slices = [Slice(image, position_along_normal(g[0], orientation)) for image, g in in_order]
    spacing = spacing_of([position_along_normal(g[0], orientation) for _, g in stack_order])
    tilt = (
        gantry_tilt_deg(orientation, stack_order[0][1][0], stack_order[-1][1][0])
        if len(stack_order) > 1
        else None
    )
    return SeriesGeometry(
        orientation=orientation,
        orientation_uniform=len(groups) == 1,
        slices=(*slices, *(Slice(image, None) for image in unplaced)),
        without_geometry=len(unplaced),
        spacing=spacing,
        gantry_tilt_deg=tilt,
    )


@dataclass(frozen=True)
class PixelFacts:
    """What the images of a series say about their pixels: the value most of them share for
    what should be one per series, every distinct value (in slice order) for the rest."""

    rows: int | None
    columns: int | None
    pixel_spacing: tuple[float, float] | None
    slice_thickness: float | None
    bits_allocated: int | None
    bits_stored: int | None
    signed: bool | None
    photometric_interpretation: str | None
    samples_per_pixel: int | None
    rescales: tuple[tuple[float, float], ...]  # (slope, intercept)
    windows: tuple[tuple[float, float], ...]  # (center, width)
    transfer_syntaxes: tuple[str, ...]
    sop_classes: tuple[str, ...]
    multi_frame: tuple[tuple[str, int], ...]  # (SOP Instance UID, frames)
    frames: int


def pixel_facts(slices: Sequence[Slice]) -> PixelFacts:
    """The pixel facts of the images `slices` holds (in their order)."""
    headers = [(s.instance, s.instance.header) for s in slices if s.instance.header is not None]
    images = [s.instance for s in slices]

    def common(field: Callable[[ImageHeader], H | None]) -> H | None:
        return _most_common(field(header) for _, header in headers)

    windows: list[tuple[float, float]] = []
    for _, header in headers:
        windows.extend(zip(header.window_center, header.window_width, strict=False))
    return PixelFacts(
        rows=common(lambda h: h.rows),
        columns=common(lambda h: h.columns),
        pixel_spacing=common(lambda h: h.pixel_spacing),
        slice_thickness=common(lambda h: h.slice_thickness),
        bits_allocated=common(lambda h: h.bits_allocated),
        bits_stored=common(lambda h: h.bits_stored),
        signed=common(lambda h: h.pixel_representation == 1),
        photometric_interpretation=common(lambda h: h.photometric_interpretation),
        samples_per_pixel=common(lambda h: h.samples_per_pixel),
        rescales=_distinct(
            (h.rescale_slope if h.rescale_slope is not None else 1.0, h.rescale_intercept)
            for _, h in headers
            if h.rescale_intercept is not None
        ),
        windows=_distinct(windows),
        transfer_syntaxes=_distinct(i.transfer_syntax_uid for i in images),
        sop_classes=_distinct(i.sop_class_uid for i in images),
        multi_frame=tuple(
            (i.sop_instance_uid, h.number_of_frames) for i, h in headers if h.number_of_frames > 1
        ),
        frames=sum(h.number_of_frames for _, h in headers) + len(images) - len(headers),
    )


def _instance_order(image: IndexedInstance) -> tuple[bool, int, str]:
    number = image.header.instance_number if image.header else None
    return (number is None, number or 0, image.sop_instance_uid)


def _same_orientation(a: Orientation, b: Orientation) -> bool:
    return all(abs(x - y) <= ORIENTATION_TOLERANCE for x, y in zip(a, b, strict=True))


def _group(
    items: Sequence[T],
    key: Callable[[T], Orientation],
    same: Callable[[Orientation, Orientation], bool],
) -> list[list[T]]:
    """Items grouped by the first group whose first item's key is the same as theirs."""
    groups: list[list[T]] = []
    for item in items:
        for group in groups:
            if same(key(group[0]), key(item)):
                group.append(item)
                break
        else:
            groups.append([item])
    return groups


def _most_common(values: Iterable[H | None]) -> H | None:
    """The most frequent non-None value; the first seen of equally frequent ones."""
    counts: dict[H, int] = {}
    for value in values:
        if value is not None:
            counts[value] = counts.get(value, 0) + 1
    if not counts:
        return None
    return max(counts, key=lambda value: counts[value])  # max keeps the first of equals


def _distinct(values: Iterable[H]) -> tuple[H, ...]:
    return tuple(dict.fromkeys(values))
