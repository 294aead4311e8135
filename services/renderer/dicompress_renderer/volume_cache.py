"""The last series volumes read, kept in memory for the next product of the same series.

A series' products reach one renderer one after the other (render.requests is keyed by series),
the thumbnails, then the snapshot, and both need the whole series: reading it was the largest
part of each (399 slices, 210 MB: ~3 s here, and S3's CPU with it). The renderer keeps the
volumes it read at full resolution, the last `capacity` of them, and the snapshot bins the one
it finds (`binned`) instead of reading the series again.

A volume is served only for the very objects it was read from: its key is the source prefix,
the request's source version (the SHA-256 of the series' instances and their contents) and the
run's own listing of the prefix (each object's key, size and ETag). The series uploaded again
with other contents, or an object added or replaced since, is another key and is read again.

Kept voxels are made read-only: a product writing into them would change the next one's images.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from dicompress_infra.s3 import S3Uri
from dicompress_renderer.source import SourceObject
from dicompress_renderer.volume import Volume


@dataclass(frozen=True)
class SeriesContent:
    """What a volume was read from."""

    bucket: str
    prefix: str
    source_version: str
    objects: tuple[SourceObject, ...]

    @classmethod
    def of(cls, source: S3Uri, version: str, listed: list[SourceObject]) -> SeriesContent:
        return cls(source.bucket, source.prefix, version, tuple(listed))


class VolumeCache:
    """At most `capacity` volumes, the least recently used dropped first; 0 keeps none.

    Used from the event loop only (the renderer runs one product at a time), so unlocked."""

    def __init__(self, capacity: int = 0) -> None:
        if capacity < 0:
            raise ValueError(f"a cache of {capacity} volumes")
        self.capacity = capacity
        self._volumes: OrderedDict[SeriesContent, Volume] = OrderedDict()

    def __len__(self) -> int:
        return len(self._volumes)

    def get(self, content: SeriesContent) -> Volume | None:
        """The volume read from exactly `content`, if it is still kept."""
        volume = self._volumes.get(content)
        if volume is not None:
            self._volumes.move_to_end(content)
        return volume

    def make_room(self) -> None:
        """Drop the oldest volumes until one more fits: called before a series is read whole,
        so the memory held, the volume being read included, stays within `capacity` volumes
        (not capacity + 1)."""
        while self._volumes and len(self._volumes) >= self.capacity:
            self._volumes.popitem(last=False)

    def put(self, content: SeriesContent, volume: Volume) -> None:
        """Keep `volume` (read at full resolution from `content`), read-only from now on."""
        if self.capacity == 0:
            return
        volume.voxels.flags.writeable = False
        self._volumes[content] = volume
        self._volumes.move_to_end(content)
        while len(self._volumes) > self.capacity:
            self._volumes.popitem(last=False)
