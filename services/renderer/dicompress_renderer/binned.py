"""A binned volume made from a full-resolution one already in memory: the same voxels, bit for
bit, as reading the series binned (`instances.read_image` at `bin_xy` k), with no second read.

Reading binned averages each slice's STORED values in k x k blocks, rounds half up in stored
units, then rescales (`volume.to_modality`). The full volume holds modality values instead,
v = slope * stored + intercept, exactly, as int16 (integer slope and intercept). So:
- slope 1: every value of a block shifted by the whole intercept shifts its rounded mean by the
  same whole number, so the modality values are binned as they are (slope 1, intercept 0), with
  no pass to undo the rescale;
- another integer slope: the stored values come back exactly, (v - intercept) // slope, and are
  binned as the read bins them.
A float32 volume (a rescale in fractions of a unit, or values past int16) cannot be undone
exactly: None, and the caller reads the series binned.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt

from dicompress_renderer.volume import (
    SliceImage,
    Volume,
    VolumeBuilder,
    Voxels,
    binned_origin,
    to_modality,
)


def binned_volume(volume: Volume, bin_xy: int) -> Volume | None:
    """`volume` (read at full resolution) binned `bin_xy` x `bin_xy` in-plane, as if read so;
    `volume` itself at 1; None when its values cannot be brought back to stored values."""
    if bin_xy == 1:
        return volume
    if volume.voxels.dtype != np.int16 or not all(map(_whole_rescale, volume.slices)):
        return None
    ints = np.asarray(volume.voxels, dtype=np.int16)  # what it is already: no copy
    builder = VolumeBuilder(expected=len(volume.slices))
    builder.bytes_in = volume.bytes_in
    for image, plane in zip(volume.slices, ints, strict=True):
        rows, columns = image.pixel_spacing
        builder.add(
            replace(
                image,
                position=binned_origin(image.position, image.orientation, (rows, columns), bin_xy),
                pixel_spacing=(rows * bin_xy, columns * bin_xy),
                pixels=_binned_plane(plane, image, bin_xy),
            )
        )
    return builder.build()


def _whole_rescale(image: SliceImage) -> bool:
    return image.slope.is_integer() and image.slope != 0 and image.intercept.is_integer()


def _binned_plane(plane: npt.NDArray[np.int16], image: SliceImage, k: int) -> Voxels:
    if image.slope == 1:
        return to_modality(plane, 1.0, 0.0, k)
    stored = (plane.astype(np.int32) - int(image.intercept)) // int(image.slope)
    return to_modality(stored, image.slope, image.intercept, k)
