"""The key image's slice: what the KEY thumbnails of an axial series are made of (pure).

When the series is axial (each slice's normal within AXIAL_TOLERANCE_DEG of the patient's z
axis), the KEY view is one stored slice, as it is: the one the request's `key_instance_uid`
names (the study index's middle image by position), else the same rule (`key_instance()`) on
the volume's own positions. Everything its images need comes from that slice alone: its pixels,
its own window, and for the rules that depend on values (the automatic window, whether the
values are calibrated HU) the slice's own histogram, not the volume's. So the runner can make
the key images from the one object it reads first, before the rest of the series, and they
are the same bytes whichever way it goes (a re-run that cannot read the key object first, or a
request without the hint, makes them from the same slice of the loaded volume).

Other series (sagittal or coronal acquisitions, or axial ones tilted more than that) get their
KEY view as a reformat of the whole volume (`reformat`), with the volume's window rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from dicompress_renderer.reformat import OrientedPlane, oriented_plane
from dicompress_renderer.volume import SliceImage, Volume, looks_like_hu
from dicompress_schemas.geometry import Orientation, slice_normal
from dicompress_schemas.products import ThumbnailView, key_instance

# A slice within this of the axial plane is shown as it is (its tilt is not corrected): a few
# degrees is what a patient's or a gantry's tilt gives; more and the slice is not a true axial.
AXIAL_TOLERANCE_DEG = 5.0


@dataclass(frozen=True)
class KeySlice:
    plane: OrientedPlane  # oriented as the KEY view wants (anterior up, patient's left right)
    window: tuple[float, float] | None  # the slice's own (center, width)
    calibrated_hu: bool  # `volume.calibrated_hu`'s rule on this slice's values
    monochrome1: bool
    sample: npt.NDArray[np.float32]  # the slice's values, for the automatic window


def is_axial(orientation: Orientation) -> bool:
    """Whether slices of this orientation face the patient's z axis (either way)."""
    normal = slice_normal(orientation)
    return abs(normal[2]) >= math.cos(math.radians(AXIAL_TOLERANCE_DEG))


def key_slice(image: SliceImage) -> KeySlice | None:
    """The key view made of `image` alone; None when it is not an axial slice."""
    if not is_axial(image.orientation):
        return None
    alone = Volume(
        voxels=image.pixels[np.newaxis],
        positions=(0.0,),
        origins=(image.position,),
        row_spacing=image.pixel_spacing[0],
        column_spacing=image.pixel_spacing[1],
        orientation=image.orientation,
        window=image.window,
        monochrome1=image.monochrome1,
        calibrated_hu=False,
        modality=image.modality,
    )
    plane = oriented_plane(alone, ThumbnailView.KEY)
    sample = np.asarray(image.pixels, dtype=np.float32).ravel()
    return KeySlice(
        plane=plane,
        window=image.window,
        calibrated_hu=looks_like_hu(image.modality, image.rescaled, image.rescale_type, sample),
        monochrome1=image.monochrome1,
        sample=sample,
    )


def key_slice_of_volume(volume: Volume, key_uid: str | None) -> KeySlice | None:
    """The key view of a loaded volume: the slice `key_uid` names if the volume has it, else
    the key_instance() of its positions; None when that slice is not axial."""
    if len(volume.slices) != volume.voxels.shape[0]:
        return None
    uids = [s.sop_uid for s in volume.slices]
    if key_uid is None or key_uid not in uids:
        if "" in uids or len(set(uids)) < len(uids):  # no usable UIDs: the same rule by index
            uids = [f"{k:09d}" for k in range(len(uids))]
        key_uid = key_instance(zip(uids, volume.positions, strict=True))
    index = uids.index(key_uid) if key_uid is not None else len(uids) // 2
    return key_slice(replace(volume.slices[index], pixels=volume.voxels[index]))
