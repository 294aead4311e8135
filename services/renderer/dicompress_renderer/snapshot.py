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
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from dicompress_renderer.presets import PRESETS
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


@dataclass(frozen=True)
class SnapshotInput:
    """What the rendering process needs, picklable: HU as int16 (half of float32 to send)."""

    voxels: npt.NDArray[np.int16]  # (slices, rows, columns), evenly spaced slices
    spacing: tuple[float, float, float]  # along columns, rows, slices (vtk's x, y, z), mm
    matrix: tuple[float, ...]  # 4x4 row-major: voxel index space (mm) -> patient LPS


@dataclass(frozen=True)
class Rendered:
    preset: RenderPreset
    size: int
    image: EncodedImage
    render_ms: float


def snapshot_input(volume: Volume) -> SnapshotInput:
    """The volume as vtk will take it: slices evenly spaced (resampled if they are not)."""
    voxels: npt.NDArray[np.float32] | npt.NDArray[np.int16] = volume.voxels
    if not volume.uniform:
        voxels = resample_rows(
            np.asarray(voxels, dtype=np.float32), np.asarray(volume.positions), volume.slice_spacing
        )
    hu = np.clip(voxels, -3024, 3071).astype(np.int16, copy=False)
    row, column, normal = volume.row_direction, volume.column_direction, volume.normal
    origin = volume.origins[0]
    matrix = (
        row[0], column[0], normal[0], origin[0],
        row[1], column[1], normal[1], origin[1],
        row[2], column[2], normal[2], origin[2],
        0.0, 0.0, 0.0, 1.0,
    )  # fmt: skip
    spacing = (volume.column_spacing, volume.row_spacing, volume.slice_spacing)
    return SnapshotInput(np.ascontiguousarray(hu), spacing, matrix)


def vtk_version() -> str:
    """The vtk version that renders here (raises ImportError without vtk)."""
    from vtkmodules.vtkCommonCore import vtkVersion

    return str(vtkVersion.GetVTKVersion())


def render_volume(
    data: SnapshotInput, presets: tuple[RenderPreset, ...], sizes: tuple[int, ...]
) -> list[Rendered]:
    """Every (preset, size) rendering of `data`, PNG. Runs in the rendering process."""
    from dicompress_renderer import vtk_scene

    scene = vtk_scene.Scene(data)
    out = []
    for preset in presets:
        scene.apply(PRESETS[preset])
        for size in sizes:
            started = time.perf_counter()
            rgb = scene.render(size)
            if int(rgb.max()) == 0:
                raise RenderFailed("the volume rendering came out black (no OpenGL context?)")
            image = encode(rgb, ImageFormat.PNG)
            out.append(Rendered(preset, size, image, (time.perf_counter() - started) * 1000))
    return out


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

    data = snapshot_input(volume)
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
