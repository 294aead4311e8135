"""A CT series as one volume: its voxels in modality units, in anatomical order, with geometry.

Slices are ordered by their position along the slice normal (`dicompress_schemas.geometry`,
the rule every service shares), never by file name or InstanceNumber. Values are modality
units: RescaleSlope/Intercept are applied per slice, since a series may change them from one
slice to the next.

Memory: a 399-slice 512x512 series is 418 MB as float32. When every slice's slope and intercept
are integers (CT almost always: 1 and -1024) and the values fit, the voxels are kept as int16,
exactly, in half that (209 MB). With `bin_xy` > 1 (the snapshot) each slice is averaged in
k x k blocks as it is read, so only the binned volume is ever held: the blocks are summed as
integers and the mean rounded to the nearest whole unit, int16 again (52 MB at k=2; a float32
mean was twice the memory and slower to compute than reading the full slices).
Slices are written into one preallocated array in the order they arrive and put in anatomical
order in place (one slice of scratch), so the volume is never held twice.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from dicompress_renderer.errors import RenderAborted
from dicompress_schemas.geometry import (
    Orientation,
    Vector,
    gantry_tilt_deg,
    position_along_normal,
    slice_normal,
    spacing_of,
)

Voxels = npt.NDArray[np.int16] | npt.NDArray[np.float32]
_INT16 = np.iinfo(np.int16)
# Below this a value is padding or outside the reconstruction circle (-2000, -3024), not air.
_PADDING_BELOW_HU = -1500.0
_ORIENTATION_TOLERANCE = 1e-3


@dataclass(frozen=True)
class SliceImage:
    """One decoded image of the series, in modality units, binned as asked."""

    position: Vector
    orientation: Orientation
    pixel_spacing: tuple[float, float]  # (between rows, between columns), mm, after binning
    pixels: Voxels  # (rows, columns)
    window: tuple[float, float] | None
    monochrome1: bool
    modality: str
    rescaled: bool  # carries RescaleSlope/Intercept
    rescale_type: str
    sop_uid: str = ""  # SOPInstanceUID (the key image hint names one)
    # the rescale applied to this slice's stored values: lets `binned` undo it exactly
    slope: float = 1.0
    intercept: float = 0.0


@dataclass(frozen=True)
class Volume:
    """voxels[k, r, c]: slice k (ascending along the normal), row r, column c.

    The centre of voxel (k, r, c) is at origins[k] + c * column_spacing * row_direction +
    r * row_spacing * column_direction (DICOM: the row direction is the one along a row, i.e.
    along increasing column index).
    """

    voxels: Voxels
    positions: tuple[float, ...]  # distance of each slice along the normal, mm, ascending
    origins: tuple[Vector, ...]  # centre of each slice's first voxel (patient LPS, mm)
    row_spacing: float
    column_spacing: float
    orientation: Orientation
    window: tuple[float, float] | None  # the series' own (center, width), modality units
    monochrome1: bool
    calibrated_hu: bool
    modality: str
    bytes_in: int = 0
    # each slice's own facts, pixels left out (they are voxels[k]), in the same order
    slices: tuple[SliceImage, ...] = ()

    @property
    def row_direction(self) -> Vector:
        o = self.orientation
        return (o[0], o[1], o[2])

    @property
    def column_direction(self) -> Vector:
        o = self.orientation
        return (o[3], o[4], o[5])

    @property
    def normal(self) -> Vector:
        return slice_normal(self.orientation)

    @property
    def slice_spacing(self) -> float:
        """Mean gap between slices along the normal, mm."""
        spacing = spacing_of(self.positions)
        return spacing.mean if spacing is not None else 1.0

    @property
    def uniform(self) -> bool:
        spacing = spacing_of(self.positions)
        return spacing is None or spacing.uniform

    @property
    def tilt_deg(self) -> float:
        return gantry_tilt_deg(self.orientation, self.origins[0], self.origins[-1])

    def sample(self, target: int = 2_000_000) -> npt.NDArray[np.float32]:
        """About `target` voxels picked on a regular grid: enough for percentiles."""
        step = max(1, round((self.voxels.size / target) ** (1 / 3)))
        return np.asarray(self.voxels[::step, ::step, ::step], dtype=np.float32).ravel()


def to_modality(
    stored: npt.NDArray[np.integer], slope: float, intercept: float, bin_xy: int
) -> Voxels:
    """Stored values -> modality units, averaged in bin_xy x bin_xy blocks (a ragged last row
    or column of blocks is dropped). int16 when the slope and intercept are integers and the
    values fit (exact at bin_xy 1; a block's mean rounded to the nearest stored value when
    binned), else float32."""
    if bin_xy > 1:
        sums = _block_sums(stored, bin_xy)
        count = bin_xy * bin_xy
        if slope.is_integer() and intercept.is_integer():
            # round half up: floor((sum + count/2) / count), exact in integers
            stored = (sums + count // 2) // count
        else:
            mean = sums.astype(np.float32) / np.float32(count)
            return mean * np.float32(slope) + np.float32(intercept)
    if slope.is_integer() and intercept.is_integer():
        low = int(stored.min()) * slope + intercept
        high = int(stored.max()) * slope + intercept
        if _INT16.min <= min(low, high) and max(low, high) <= _INT16.max:
            exact = stored.astype(np.int32) * int(slope) + int(intercept)
            return exact.astype(np.int16)
    values: npt.NDArray[np.float32] = stored.astype(np.float32) * np.float32(slope) + np.float32(
        intercept
    )
    return values


def _block_sums(stored: npt.NDArray[np.integer], k: int) -> npt.NDArray[np.int32]:
    """Sum of each k x k block, as int32: k strided adds over rows, then k over columns (ten
    times faster than a reshape-sum, whose innermost axis would be only k long)."""
    rows, columns = (stored.shape[0] // k) * k, (stored.shape[1] // k) * k
    cut = stored[:rows, :columns]
    by_rows = cut[0::k].astype(np.int32)
    for j in range(1, k):
        by_rows += cut[j::k]
    sums = np.ascontiguousarray(by_rows[:, 0::k])
    for j in range(1, k):
        sums += by_rows[:, j::k]
    return sums


def binned_origin(
    position: Vector, orientation: Orientation, spacing: tuple[float, float], bin_xy: int
) -> Vector:
    """The centre of the first k x k block: half a pixel per extra pixel along each direction."""
    shift = (bin_xy - 1) / 2.0
    return (
        position[0] + shift * (spacing[1] * orientation[0] + spacing[0] * orientation[3]),
        position[1] + shift * (spacing[1] * orientation[1] + spacing[0] * orientation[4]),
        position[2] + shift * (spacing[1] * orientation[2] + spacing[0] * orientation[5]),
    )


@dataclass
class VolumeBuilder:
    """Collects a series' images (any order) into one Volume; see the module's memory note."""

    expected: int
    bytes_in: int = 0
    _voxels: Voxels | None = None
    _images: list[SliceImage] = field(default_factory=list)

    def add(self, image: SliceImage) -> None:
        """Store `image` in the next free slot (raises RenderAborted if it does not fit)."""
        slot = len(self._images)
        if self._voxels is None:
            shape = (self.expected, *image.pixels.shape)
            self._voxels = np.empty(shape, dtype=image.pixels.dtype)
        elif image.pixels.shape != self._voxels.shape[1:]:
            raise RenderAborted(
                "mixed-sizes",
                f"the series mixes image sizes ({image.pixels.shape[1]}x{image.pixels.shape[0]} "
                f"and {self._voxels.shape[2]}x{self._voxels.shape[1]}): it is not one volume",
            )
        if slot >= self._voxels.shape[0]:
            raise ValueError(f"more images than the {self.expected} expected")
        if image.pixels.dtype != self._voxels.dtype:  # a slice not exact in int16: all float32
            self._voxels = self._voxels.astype(np.float32)
        self._voxels[slot] = image.pixels
        self._images.append(_without_pixels(image))

    def build(self) -> Volume:
        """The volume in anatomical order; RenderAborted when its geometry is not one volume."""
        images, voxels = self._images, self._voxels
        if voxels is None or not images:
            raise RenderAborted("no-images", "the series has no image that could be read")
        voxels = voxels[: len(images)]
        orientation = images[0].orientation
        _check_same_plane(images, orientation)
        distances = [position_along_normal(i.position, orientation) for i in images]
        order = sorted(range(len(images)), key=distances.__getitem__)
        ordered = [distances[k] for k in order]
        if any(b - a < 1e-3 for a, b in itertools.pairwise(ordered)):
            raise RenderAborted(
                "duplicate-positions",
                "two images of the series lie at the same position: it holds two stacks or a "
                "duplicate; export the series again with one image per position",
            )
        _permute(voxels, order)
        ordered_images = tuple(images[k] for k in order)
        middle = ordered_images[len(order) // 2]
        volume = Volume(
            voxels=voxels,
            positions=tuple(ordered),
            origins=tuple(images[k].position for k in order),
            row_spacing=middle.pixel_spacing[0],
            column_spacing=middle.pixel_spacing[1],
            orientation=orientation,
            window=middle.window,
            monochrome1=middle.monochrome1,
            calibrated_hu=False,
            modality=middle.modality,
            bytes_in=self.bytes_in,
            slices=ordered_images,
        )
        return replace(
            volume, calibrated_hu=calibrated_hu(volume, middle.rescaled, middle.rescale_type)
        )


def calibrated_hu(volume: Volume, rescaled: bool, rescale_type: str) -> bool:
    """Whether the values can be trusted as Hounsfield units, so that HU presets apply.

    Yes for a CT with a rescale (RescaleType absent or HU) whose values look like a CT's: some
    air or lung (1st percentile, padding excluded, at or below -700 HU) and nothing past
    4000 HU at the 99.5th percentile. A cone-beam CT stored without a rescale, or with values in
    its own grey scale (air near 0), is not: its thumbnails get an automatic window instead.
    A CT cropped so tight that it holds no air is taken as uncalibrated too: the automatic
    window is still a good picture, a wrong preset would not be.
    """
    return looks_like_hu(volume.modality, rescaled, rescale_type, volume.sample())


def looks_like_hu(
    modality: str, rescaled: bool, rescale_type: str, sample: npt.NDArray[np.float32]
) -> bool:
    """`calibrated_hu`'s rule on any sample of values (a volume's, or one slice's)."""
    if modality != "CT" or not rescaled or rescale_type not in ("", "HU"):
        return False
    inside = sample[sample >= _PADDING_BELOW_HU]
    if inside.size == 0:
        return False
    low, high = np.percentile(inside, [1.0, 99.5])
    return bool(low <= -700.0 and high <= 4000.0)


def _check_same_plane(images: list[SliceImage], orientation: Orientation) -> None:
    for image in images:
        if max(abs(a - b) for a, b in zip(image.orientation, orientation, strict=True)) > (
            _ORIENTATION_TOLERANCE
        ):
            raise RenderAborted(
                "mixed-orientations",
                "the images of the series are not parallel (their orientations differ): it "
                "is not one volume, so no reformat or 3D view can be made of it",
            )


def _permute(voxels: Voxels, order: list[int]) -> None:
    """voxels[i] = old voxels[order[i]], in place, following the permutation's cycles."""
    done = [False] * len(order)
    for start in range(len(order)):
        if done[start] or order[start] == start:
            done[start] = True
            continue
        scratch = voxels[start].copy()
        i = start
        while True:
            done[i] = True
            j = order[i]
            if j == start:
                voxels[i] = scratch
                break
            voxels[i] = voxels[j]
            i = j


def _without_pixels(image: SliceImage) -> SliceImage:
    """The image's facts without its pixels (they are in the builder's array now)."""
    empty: npt.NDArray[np.int16] = np.empty((0, 0), dtype=np.int16)
    return replace(image, pixels=empty)
