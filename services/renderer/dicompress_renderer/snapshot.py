"""3D snapshots: a frontal volume rendering of the (binned) series with a CT preset, by vtk.

vtk (`vtkFixedPointVolumeRayCastMapper`, CPU ray casting) renders offscreen with no display:
with no X server the wheel picks EGL on Mesa llvmpipe itself (FIELD-NOTES). It is imported
here only, lazily, inside `render_volume`, which the service runs in a child process: a vtk or
OpenGL crash then breaks that process, not the service, and the renderer falls back to a
maximum-intensity projection made with numpy (`mip_fallback`), saying why in the event.

The volume is placed in patient space by its real spacing and orientation (the vtkVolume's
user matrix is the series' affine: row, column and normal directions, first voxel's position),
and the camera looks from the front: from anterior (-y in LPS) towards posterior, superior up,
so the patient's left is on the image's right, as in the coronal thumbnail. Parallel
projection, the window's aspect that of the body's frontal extent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np
import numpy.typing as npt
from PIL import Image

from dicompress_renderer.presets import PRESETS, VolumePreset
from dicompress_renderer.reformat import oriented_plane, resample_rows
from dicompress_renderer.thumbnails import EncodedImage, encode, scaled_grey
from dicompress_renderer.volume import Volume
from dicompress_renderer.windows import AppliedWindow, auto_window
from dicompress_schemas.products import (
    WINDOW_PRESETS,
    ImageFormat,
    RenderPreset,
    SnapshotParams,
    ThumbnailView,
    Window,
)

if TYPE_CHECKING:
    from dicompress_renderer.items import Made

log = logging.getLogger(__name__)


class RenderFailed(Exception):
    """vtk rendered nothing usable (the caller falls back)."""


# Crop margin, voxels: trilinear samples touch a voxel's neighbours, shading its gradients
# (central differences) one more; so two voxels of margin leave every visible sample as it was.
_CROP_MARGIN = 2
_HU_RANGE = (-3024, 3071)  # the presets' own range
_MIN_BINNED_SLICES = 16  # a small series is cheap to render as it is


@dataclass(frozen=True)
class SnapshotInput:
    """What the rendering process needs, picklable: HU as int16 (half of float32 to send).

    `voxels` may be a crop of the volume (the box holding every voxel some preset shows) and
    binned along the slices; `origin` places its first voxel in the volume's index space (mm),
    `frame` is the whole volume's extent in patient space, so the picture is framed the same
    whatever the crop.
    """

    voxels: npt.NDArray[np.int16]  # (slices, rows, columns), evenly spaced slices
    spacing: tuple[float, float, float]  # along columns, rows, slices (vtk's x, y, z), mm
    matrix: tuple[float, ...]  # 4x4 row-major: voxel index space (mm) -> patient LPS
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)  # of voxels[0, 0, 0], index space mm
    frame: tuple[float, float, float, float, float, float] | None = None  # LPS x0 x1 y0 y1 z0 z1
    unit_distance: float = 0.0  # mm the presets' opacities are for: the volume's mean spacing
    sample_distance: float = 0.0  # mm between samples along a ray: the voxel depth in the view

    def frame_size(self, size: int) -> tuple[int, int]:
        """(width, height) of a frontal picture `size` px on its long side: the frame's
        left-right extent by its superior-inferior one."""
        x0, x1, _, _, z0, z1 = self.frame or self.bounds()
        width_mm, height_mm = max(x1 - x0, 1e-3), max(z1 - z0, 1e-3)
        scale = size / max(width_mm, height_mm)
        return max(1, round(width_mm * scale)), max(1, round(height_mm * scale))

    def bounds(self) -> tuple[float, float, float, float, float, float]:
        """The voxels' extent in patient space (as vtk's bounds: voxel centres)."""
        slices, rows, columns = self.voxels.shape
        extent = (
            (self.origin[0], self.origin[0] + (columns - 1) * self.spacing[0]),
            (self.origin[1], self.origin[1] + (rows - 1) * self.spacing[1]),
            (self.origin[2], self.origin[2] + (slices - 1) * self.spacing[2]),
        )
        return _patient_bounds(self.matrix, extent)


@dataclass(frozen=True)
class Rendered:
    preset: RenderPreset
    size: int
    image: EncodedImage
    render_ms: float


def snapshot_input(
    volume: Volume, presets: tuple[RenderPreset, ...] = tuple(RenderPreset)
) -> SnapshotInput:
    """The volume as vtk will take it: slices evenly spaced (resampled if they are not), thin
    slices averaged to near-isotropic voxels, cropped to what `presets` can show."""
    voxels: npt.NDArray[np.float32] | npt.NDArray[np.int16] = volume.voxels
    if not volume.uniform:
        voxels = resample_rows(
            np.asarray(voxels, dtype=np.float32), np.asarray(volume.positions), volume.slice_spacing
        )
    row, column, normal = volume.row_direction, volume.column_direction, volume.normal
    first = volume.origins[0]
    matrix = (
        row[0], column[0], normal[0], first[0],
        row[1], column[1], normal[1], first[1],
        row[2], column[2], normal[2], first[2],
        0.0, 0.0, 0.0, 1.0,
    )  # fmt: skip
    spacing = (volume.column_spacing, volume.row_spacing, volume.slice_spacing)
    slices, rows, columns = voxels.shape
    frame = _patient_bounds(
        matrix,
        ((0.0, (columns - 1) * spacing[0]), (0.0, (rows - 1) * spacing[1]),
         (0.0, (slices - 1) * spacing[2])),
    )  # fmt: skip
    unit_distance = float(np.mean(spacing))
    m = z_binning(spacing, slices)
    z_offset = 0.0
    if m > 1:
        voxels = bin_slices(voxels, m)
        z_offset = (m - 1) / 2.0 * spacing[2]
        spacing = (spacing[0], spacing[1], spacing[2] * m)
    box = visible_box(voxels, min(visible_above(PRESETS[p]) for p in presets))
    cut = voxels[box[0], box[1], box[2]]
    low, high = (int(v) for v in (cut.min(), cut.max())) if cut.size else (0, 0)
    if low < _HU_RANGE[0] or high > _HU_RANGE[1] or cut.dtype != np.int16:
        cut = np.clip(cut, *_HU_RANGE).astype(np.int16)
    # One sample per voxel crossed: the spacing of the voxel axis nearest the view's (the
    # frontal view looks along the patient's y axis). Sampling at the smallest spacing instead
    # (1.25 mm slices across 1.4 mm pixels) cost a fifth more for a mean difference of half a
    # grey level.
    along_view = max(range(3), key=lambda axis: abs((row, column, normal)[axis][1]))
    origin = (
        box[2].start * spacing[0],
        box[1].start * spacing[1],
        z_offset + box[0].start * spacing[2],
    )
    return SnapshotInput(
        np.ascontiguousarray(cut, dtype=np.int16),
        spacing,
        matrix,
        origin,
        frame,
        unit_distance,
        sample_distance=spacing[along_view],
    )


def z_binning(spacing: tuple[float, float, float], slices: int) -> int:
    """How many slices to average: about the binned pixel over the slice spacing, at least 1,
    and never below _MIN_BINNED_SLICES slices left. The ray caster samples at the smallest
    spacing and computes a gradient per voxel, so slices thinner than the pixels cost work
    without showing more at 256-512 px."""
    m = max(1, round(min(spacing[0], spacing[1]) / spacing[2]))
    return max(1, min(m, slices // _MIN_BINNED_SLICES))


def bin_slices(
    voxels: npt.NDArray[np.float32] | npt.NDArray[np.int16], m: int
) -> npt.NDArray[np.float32] | npt.NDArray[np.int16]:
    """Means of `m` consecutive slices (a ragged last group dropped): int16 rounded half up
    for int16 voxels, float32 otherwise."""
    count = voxels.shape[0] // m
    if voxels.dtype == np.int16:
        ints = cast("npt.NDArray[np.int16]", voxels)
        sums = ints[0 : count * m : m].astype(np.int32)
        for j in range(1, m):
            sums += ints[j : count * m : m]
        binned: npt.NDArray[np.int16] = ((sums + m // 2) // m).astype(np.int16)
        return binned
    grouped = voxels[: count * m].reshape(count, m, *voxels.shape[1:])
    means: npt.NDArray[np.float32] = grouped.mean(axis=1, dtype=np.float32)
    return means


def visible_above(preset: VolumePreset) -> float:
    """The value above which the preset's scalar opacity is not zero (-inf: everywhere)."""
    threshold = -np.inf
    for value, alpha in preset.scalar_opacity:
        if alpha > 0:
            break
        threshold = value
    return float(threshold)


def visible_box(
    voxels: npt.NDArray[np.float32] | npt.NDArray[np.int16], threshold: float
) -> tuple[slice, slice, slice]:
    """The smallest box (slices, rows, columns) holding every voxel above `threshold`, with
    _CROP_MARGIN more on each side; the whole volume when none is above it."""
    whole = (slice(0, voxels.shape[0]), slice(0, voxels.shape[1]), slice(0, voxels.shape[2]))
    if not np.isfinite(threshold) or voxels.size == 0:
        return whole
    per_slice = voxels.max(axis=(1, 2))
    plane = voxels.max(axis=0)  # (rows, columns)
    slices = np.flatnonzero(per_slice > threshold)
    rows = np.flatnonzero(plane.max(axis=1) > threshold)
    columns = np.flatnonzero(plane.max(axis=0) > threshold)
    if slices.size == 0:
        return whole
    return tuple(  # type: ignore[return-value]
        slice(max(0, int(found[0]) - _CROP_MARGIN), min(n, int(found[-1]) + 1 + _CROP_MARGIN))
        for found, n in zip((slices, rows, columns), voxels.shape, strict=True)
    )


def _patient_bounds(
    matrix: tuple[float, ...], extent: tuple[tuple[float, float], ...]
) -> tuple[float, float, float, float, float, float]:
    """Bounds in patient space of an index-space box (its 8 corners through `matrix`)."""
    m = np.asarray(matrix, dtype=np.float64).reshape(4, 4)
    corners = np.array([[x, y, z, 1.0] for x in extent[0] for y in extent[1] for z in extent[2]])
    placed = corners @ m.T
    low, high = placed[:, :3].min(axis=0), placed[:, :3].max(axis=0)
    return (
        float(low[0]), float(high[0]), float(low[1]), float(high[1]), float(low[2]),
        float(high[2]),
    )  # fmt: skip


def vtk_version() -> str:
    """The vtk version that renders here (raises ImportError without vtk)."""
    from vtkmodules.vtkCommonCore import vtkVersion

    return str(vtkVersion.GetVTKVersion())


def warm_up() -> None:
    """Import vtk and open its offscreen context once (about 0.9 s and 0.3 s here), so the
    first snapshot does not pay for them: the service runs this in the rendering process as
    soon as it starts. A failure here is only logged: the snapshot will say what fails."""
    try:
        from dicompress_renderer import vtk_scene

        identity = (1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0)
        tiny = SnapshotInput(np.zeros((2, 2, 2), dtype=np.int16), (1.0, 1.0, 1.0), identity)
        scene = vtk_scene.Scene(tiny)
        scene.apply(PRESETS[RenderPreset.SOFT_TISSUE])
        scene.render(8)
    except Exception:  # ImportError, no EGL: reported by the first snapshot's fallback
        log.warning("vtk warm-up failed", exc_info=True)


def render_volume(
    data: SnapshotInput, presets: tuple[RenderPreset, ...], sizes: tuple[int, ...]
) -> list[Rendered]:
    """Every (preset, size) rendering of `data`, PNG, in that order. Runs in the rendering
    process. Each preset is ray cast once, at the largest size; a smaller size is that picture
    scaled down (Lanczos): the same view, and smoother than casting fewer rays, each a point
    sample, through the same voxels."""
    from dicompress_renderer import vtk_scene

    scene = vtk_scene.Scene(data)
    largest = max(sizes)
    out = []
    for preset in presets:
        scene.apply(PRESETS[preset])
        started = time.perf_counter()
        rgb = scene.render(largest)
        if int(rgb.max()) == 0:
            raise RenderFailed("the volume rendering came out black (no OpenGL context?)")
        cast_ms = (time.perf_counter() - started) * 1000
        for size in sizes:
            started = time.perf_counter()
            pixels = rgb if size == largest else scaled_down(rgb, data.frame_size(size))
            image = encode(pixels, ImageFormat.PNG)
            spent = (time.perf_counter() - started) * 1000
            out.append(Rendered(preset, size, image, spent + (cast_ms if size == largest else 0)))
    return out


def scaled_down(rgb: npt.NDArray[np.uint8], size: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """`rgb` resampled to (width, height) by Lanczos."""
    if (rgb.shape[1], rgb.shape[0]) == size:
        return rgb
    scaled = Image.fromarray(rgb).resize(size, resample=Image.Resampling.LANCZOS)
    return np.asarray(scaled, dtype=np.uint8)


def mip_fallback(volume: Volume, size: int) -> tuple[EncodedImage, AppliedWindow]:
    """A frontal maximum-intensity projection windowed to bone (an automatic window when the
    values are not calibrated HU): what a snapshot is when vtk cannot render."""
    plane = oriented_plane(volume, ThumbnailView.ANTERIOR, reduce="max")
    if volume.calibrated_hu:
        center, width = WINDOW_PRESETS[Window.BONE]
    else:
        center, width = auto_window(plane.values.ravel())
    window = AppliedWindow(center, width)
    grey = scaled_grey(plane, window, size, invert=volume.monochrome1)
    return encode(grey, ImageFormat.PNG), window


async def make_snapshots(
    volume: Volume, params: SnapshotParams, pool: Executor | None
) -> list[Made]:
    """Every (preset, size) snapshot of `volume`, in `items.plan` order: rendered by vtk in
    `pool` (a thread here when None), or maximum-intensity projections when vtk cannot."""
    from dicompress_renderer.items import Made

    data = snapshot_input(volume, params.presets)
    try:
        if pool is None:
            rendered = await asyncio.to_thread(render_volume, data, params.presets, params.sizes)
        else:
            loop = asyncio.get_running_loop()
            rendered = await loop.run_in_executor(
                pool, render_volume, data, params.presets, params.sizes
            )
    except Exception as exc:  # ImportError, RenderFailed, BrokenProcessPool, vtk's errors
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        log.warning(
            "volume rendering failed; maximum-intensity projection instead",
            extra={"reason": reason},
        )
        return [_fallback(volume, size, reason) for _ in params.presets for size in params.sizes]
    note = (
        None
        if volume.calibrated_hu
        else (
            "this series has no calibrated Hounsfield units (a cone-beam CT, or no rescale): the "
            "CT preset may show other tissues than it names"
        )
    )
    return [Made(r.image, None, r.render_ms, note) for r in rendered]


def _fallback(volume: Volume, size: int, reason: str) -> Made:
    from dicompress_renderer.items import Made

    started = time.perf_counter()
    image, window = mip_fallback(volume, size)
    fallback = (
        f"volume rendering was not available ({reason[:300]}): this is a maximum-intensity "
        "projection from the front, in a bone window"
    )
    return Made(image, window, (time.perf_counter() - started) * 1000, fallback)
