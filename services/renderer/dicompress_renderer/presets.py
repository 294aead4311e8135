"""The CT volume-rendering presets, as 3D Slicer and cornerstone3D ship them.

Point lists copied from 3D Slicer's Modules/Loadable/VolumeRendering/Resources/presets.xml
(`VolumeProperty name="CT-Bone"` and `name="CT-Soft-Tissue"`); cornerstone3D's
packages/core/src/constants/viewportPresets.ts (CONSTANTS.VIEWPORT_PRESETS) carries the same
numbers. Values are HU; colours RGB in 0..1. Each list there is prefixed by its length, dropped
here.
"""

from __future__ import annotations

from dataclasses import dataclass

from dicompress_schemas.products import RenderPreset


@dataclass(frozen=True)
class VolumePreset:
    name: str  # the name in Slicer and cornerstone3D
    scalar_opacity: tuple[tuple[float, float], ...]  # (HU, opacity per unit distance)
    color: tuple[tuple[float, float, float, float], ...]  # (HU, r, g, b)
    gradient_opacity: tuple[tuple[float, float], ...]
    shade: bool
    ambient: float
    diffuse: float
    specular: float
    specular_power: float


PRESETS: dict[RenderPreset, VolumePreset] = {
    RenderPreset.BONE: VolumePreset(
        name="CT-Bone",
        scalar_opacity=((-3024, 0), (-16.4458, 0), (641.385, 0.715686), (3071, 0.705882)),
        color=(
            (-3024, 0, 0, 0),
            (-16.4458, 0.729412, 0.254902, 0.301961),
            (641.385, 0.905882, 0.815686, 0.552941),
            (3071, 1, 1, 1),
        ),
        gradient_opacity=((0, 1), (255, 1)),
        shade=True,
        ambient=0.1,
        diffuse=0.9,
        specular=0.2,
        specular_power=10,
    ),
    RenderPreset.SOFT_TISSUE: VolumePreset(
        name="CT-Soft-Tissue",
        scalar_opacity=((-2048, 0), (-167.01, 0), (-160, 1), (240, 1), (3661, 1)),
        color=(
            (-2048, 0, 0, 0),
            (-167.01, 0, 0, 0),
            (-160, 0.0556356, 0.0556356, 0.0556356),
            (240, 1, 1, 1),
            (3661, 1, 1, 1),
        ),
        gradient_opacity=((0, 1), (255, 1)),
        shade=False,
        ambient=0.2,
        diffuse=1.0,
        specular=0.0,
        specular_power=1,
    ),
}
