"""What a product is made of: its images in a fixed order, and the thumbnail maker.

The order is part of the job's identity: image i is always the event at seq 2+i, so a re-run
emits the same events for the same images. Thumbnails: view, then window, then size, then
format; snapshots: preset, then size (PNG only).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from dicompress_renderer.key_image import KeySlice, key_slice_of_volume
from dicompress_renderer.reformat import OrientedPlane, oriented_plane
from dicompress_renderer.thumbnails import EncodedImage, encode, scaled_grey
from dicompress_renderer.volume import Volume
from dicompress_renderer.windows import AppliedWindow, Grey, choose_window
from dicompress_schemas.products import (
    ImageFormat,
    SnapshotParams,
    ThumbnailParams,
    ThumbnailView,
    Window,
)

THUMBNAIL_VIEWS = (ThumbnailView.KEY, ThumbnailView.CORONAL, ThumbnailView.SAGITTAL)


@dataclass(frozen=True)
class Item:
    """One image of a product: `preset` is the Window or RenderPreset value."""

    view: ThumbnailView
    preset: str
    size: int
    format: ImageFormat


def plan(params: ThumbnailParams | SnapshotParams) -> list[Item]:
    """The product's images, in event order."""
    if isinstance(params, SnapshotParams):
        return [
            Item(ThumbnailView.ANTERIOR, preset.value, size, ImageFormat.PNG)
            for preset in params.presets
            for size in params.sizes
        ]
    return [
        Item(view, window.value, size, fmt)
        for view in THUMBNAIL_VIEWS
        for window in params.windows
        for size in params.sizes
        for fmt in params.formats
    ]


@dataclass(frozen=True)
class Made:
    image: EncodedImage
    window: AppliedWindow | None
    render_ms: float
    fallback: str | None = None


@dataclass
class ThumbnailMaker:
    """Makes thumbnail items of one volume; each plane, window and grey image is computed once
    (a PNG and a WebP of the same size share their pixels).

    `key`: the key slice (`key_image`), which the KEY items are made of when given; without
    it they are a reformat of the volume. `volume` may be None while only KEY items are made
    (the key image before the series is read).
    """

    volume: Volume | None
    key: KeySlice | None
    _planes: dict[ThumbnailView, OrientedPlane] = field(default_factory=dict)
    _sample: npt.NDArray[np.float32] | None = None
    _grey: dict[tuple[ThumbnailView, str, int], tuple[Grey, AppliedWindow]] = field(
        default_factory=dict
    )

    @classmethod
    def of_volume(cls, volume: Volume, key_uid: str | None = None) -> ThumbnailMaker:
        """The maker of every item of `volume`, its key slice chosen as the runner does."""
        return cls(volume, key_slice_of_volume(volume, key_uid))

    def make(self, item: Item) -> Made:
        started = time.perf_counter()
        grey, window = self._grey_of(item)
        image = encode(grey, item.format)
        return Made(image, window, (time.perf_counter() - started) * 1000, window.fallback)

    def _grey_of(self, item: Item) -> tuple[Grey, AppliedWindow]:
        key = (item.view, item.preset, item.size)
        if key not in self._grey:
            requested = Window(item.preset)
            if item.view is ThumbnailView.KEY and self.key is not None:
                plane, invert = self.key.plane, self.key.monochrome1
                window = choose_window(
                    requested, self.key.window, self.key.calibrated_hu, self.key.sample
                )
            else:
                volume = self.volume
                if volume is None:
                    raise ValueError(f"{item.view.value} needs the volume")
                if item.view not in self._planes:
                    self._planes[item.view] = oriented_plane(volume, item.view)
                if self._sample is None:
                    self._sample = volume.sample()
                plane, invert = self._planes[item.view], volume.monochrome1
                window = choose_window(requested, volume.window, volume.calibrated_hu, self._sample)
            grey = scaled_grey(plane, window, item.size, invert=invert)
            self._grey = {k: v for k, v in self._grey.items() if k[:2] == key[:2]}  # bounded
            self._grey[key] = (grey, window)
        return self._grey[key]
