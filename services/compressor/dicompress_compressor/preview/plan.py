"""Which source slices make each preview slice: the series in anatomical order (`layout`), cut
into groups of `bin_z` consecutive slices.

The preview must be a regular volume, like the series it previews: that is why Z-binning is
refused when the spacing along the normal is not uniform (the contract's tolerance,
`SPACING_TOLERANCE_MM`: a missing or doubled slice is never uniform), and why a short last group
is not made: the `len % bin_z` slices at the top of the series (the highest positions along the
normal) are left out, as the in-plane remainder rows and columns are. A short group averaged on
its own would sit at a different spacing from the others and break the volume a viewer builds.
Every slice needs its geometry (position and orientation): a preview whose slices cannot be
placed is no preview.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dicompress_compressor.errors import CompressorError
from dicompress_compressor.layout import PlannedSlice, Series
from dicompress_schemas.geometry import Orientation

ORIENTATION_TOLERANCE = 1e-4  # direction cosines are DS values rounded by the scanner


class PlanRefused(CompressorError):
    """The series cannot be previewed as asked; `error_code` and `reason` become JobFailed."""

    def __init__(self, error_code: str, reason: str) -> None:
        super().__init__(reason)
        self.error_code = error_code
        self.reason = reason


@dataclass(frozen=True)
class Group:
    """Output slice `index`: the mean of `members` (consecutive, in anatomical order)."""

    index: int
    members: tuple[PlannedSlice, ...]

    @property
    def first(self) -> PlannedSlice:
        return self.members[0]


@dataclass(frozen=True)
class PreviewPlan:
    groups: list[Group]
    left_out: int  # slices at the top of the series in no group (fewer than bin_z)


def plan_groups(
    series: Series,
    slices: Sequence[PlannedSlice],
    bin_z: int,
    z_range: tuple[int, int] | None = None,
) -> PreviewPlan:
    """The output slices of `series` (its `slices` in layout order) binned `bin_z` along Z, or
    PlanRefused saying why the series cannot be binned so. `z_range` (first, last), both
    included, indexes in anatomical order: only those slices, which must then lie in one plane
    orientation (a region is one volume); output index 0 is slice `first`."""
    if not slices:
        raise PlanRefused("source-empty", "the series has no image slices to preview")
    if z_range is not None:
        slices = select_range(slices, z_range)
    if bin_z < 1:
        raise PlanRefused("invalid-params", f"bin_z {bin_z} must be at least 1")
    unplaced = [s for s in slices if s.header.position is None or s.header.orientation is None]
    if unplaced:
        raise PlanRefused(
            "no-geometry",
            f"{len(unplaced)} of {len(slices)} slices have no usable ImagePositionPatient or "
            f"ImageOrientationPatient (e.g. {unplaced[0].header.source.key}): a preview cannot "
            "place them; export the series with its geometry",
        )
    multi = [s for s in slices if s.header.frames > 1]
    if multi:
        raise PlanRefused(
            "unsupported",
            f"{multi[0].header.source.key} is a multi-frame object ({multi[0].header.frames} "
            "frames): previews are made of single-frame series only",
        )
    if bin_z > 1:
        _check_regular(series, slices, bin_z)
    elif z_range is not None:
        _check_one_orientation(
            slices, "the region would not be one volume; ask for slices of one orientation"
        )
    count = len(slices) // bin_z
    groups = [Group(i, tuple(slices[i * bin_z : (i + 1) * bin_z])) for i in range(count)]
    return PreviewPlan(groups, len(slices) - count * bin_z)


def _check_regular(series: Series, slices: Sequence[PlannedSlice], bin_z: int) -> None:
    if len(slices) < bin_z:
        raise PlanRefused(
            "too-few-slices",
            f"bin_z {bin_z} needs at least {bin_z} slices; the series has {len(slices)}: "
            "ask for a smaller bin_z",
        )
    spacing = series.spacing
    if spacing is not None and not spacing.uniform:
        raise PlanRefused(
            "non-uniform-spacing",
            f"the slices are not evenly spaced along the normal (gaps from {spacing.min:.3f} to "
            f"{spacing.max:.3f} mm: a missing, doubled or variable-pitch slice), so averaging "
            f"{bin_z} neighbours would mix unequal slabs; ask for bin_z 1",
        )
    _check_one_orientation(
        slices, "its slices cannot be averaged with their neighbours; ask for bin_z 1"
    )


def select_range(slices: Sequence[PlannedSlice], z_range: tuple[int, int]) -> list[PlannedSlice]:
    """Slices `first`..`last` (both included) of a series' `slices`, or PlanRefused naming the
    valid range in words (the API checks first; a request must not be trusted)."""
    first, last = z_range
    n = len(slices)
    if not 0 <= first <= last < n:
        raise PlanRefused(
            "out-of-range",
            f"slices {first} to {last} were asked for, but the series has {n} slices: "
            f"ask for a range from 0 to {n - 1} (first <= last)",
        )
    return list(slices[first : last + 1])


def _check_one_orientation(slices: Sequence[PlannedSlice], consequence: str) -> None:
    reference = slices[0].header.orientation
    assert reference is not None  # checked by the caller
    tilted = [s for s in slices if not _same(s.header.orientation, reference)]
    if tilted:
        raise PlanRefused(
            "non-uniform-orientation",
            f"{tilted[0].header.source.key} is not in the same plane orientation as the rest of "
            f"the series, so {consequence}",
        )


def _same(orientation: Orientation | None, reference: Orientation) -> bool:
    return orientation is not None and all(
        abs(a - b) <= ORIENTATION_TOLERANCE for a, b in zip(orientation, reference, strict=True)
    )
