"""A ZIP written as a stream of upload parts: never the whole archive in memory or on disk.

`zipfile` writes to any object with `write()`; given one that cannot seek, it puts each
entry's CRC and sizes in a data descriptor after the entry, so nothing is ever rewritten and
the bytes can leave as soon as they are produced. `StreamingZip` collects them and hands them
out in parts of exactly `part_size` bytes (S3 multipart: >= 5 MiB except the last), so at most
one part plus the entry being added is ever held.
"""

from __future__ import annotations

import zipfile

MIN_PART_SIZE = 5 * 1024 * 1024  # S3's minimum for every part but the last


class _Sink:
    """Append-only, unseekable: what makes `zipfile` stream (no `seek`/`tell` on purpose)."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.written = 0

    def write(self, data: bytes) -> int:
        self.buffer += data
        self.written += len(data)
        return len(data)

    def flush(self) -> None:
        """Nothing to flush: the parts are taken by `StreamingZip`."""


class StreamingZip:
    """Add entries (stored, not deflated: a JPEG 2000 codestream does not deflate); take the
    parts that are full after each one, and the rest once finished."""

    def __init__(self, part_size: int = MIN_PART_SIZE) -> None:
        if part_size < 1:
            raise ValueError("part_size must be positive")
        self.part_size = part_size
        self.max_buffered = 0  # the most bytes ever held at once (what the tests bound)
        self._sink = _Sink()
        self._zip = zipfile.ZipFile(self._sink, "w", compression=zipfile.ZIP_STORED)  # type: ignore[call-overload]  # any writable will do

    @property
    def size(self) -> int:
        """Bytes of archive produced so far."""
        return self._sink.written

    def add(self, name: str, data: bytes) -> list[bytes]:
        """Append one entry; return the parts it completed (often none)."""
        self._zip.writestr(name, data)
        return self._take(final=False)

    def finish(self) -> list[bytes]:
        """Write the central directory; return the remaining parts, the last one short."""
        self._zip.close()
        return self._take(final=True)

    def _take(self, final: bool) -> list[bytes]:
        buffer = self._sink.buffer
        self.max_buffered = max(self.max_buffered, len(buffer))
        parts = []
        while len(buffer) >= self.part_size:
            parts.append(bytes(buffer[: self.part_size]))
            del buffer[: self.part_size]
        if final and buffer:
            parts.append(bytes(buffer))
            buffer.clear()
        return parts
