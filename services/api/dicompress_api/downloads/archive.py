"""A sized ZIP stream of stored objects: its length known up front, its bytes read as sent.

zipstream-ng lays out a ZIP of entries whose sizes are given (stored, no compression: DICOM
pixel data is compressed already, and only stored entries have a length known in advance) and
reads each entry's chunks only when the stream reaches it, so a request holds one chunk at a
time whatever the size of the study.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from zipstream import ZipStream  # type: ignore[import-untyped]  # ships no type information

from dicompress_api.downloads.selection import Entry

Chunks = Callable[[str], Iterable[bytes]]  # the chunks of the object at this key


class ObjectChanged(RuntimeError):
    """An object's size differs from the index's: the stream is broken off (the client sees
    fewer bytes than Content-Length, never a ZIP with a wrong file in it)."""


class SizedZip:
    def __init__(self, entries: Sequence[Entry], chunks: Chunks) -> None:
        self._zip = ZipStream(sized=True)
        for entry in entries:
            self._zip.add(_checked(entry, chunks), entry.name, size=entry.bytes)
        self.length: int = len(self._zip)

    def __iter__(self) -> Iterator[bytes]:
        yield from self._zip


def _checked(entry: Entry, chunks: Chunks) -> Iterator[bytes]:
    """The entry's chunks, opened only when iterated, and checked against its indexed size."""
    seen = 0
    for chunk in chunks(entry.key):
        seen += len(chunk)
        if seen > entry.bytes:
            break
        yield chunk
    if seen != entry.bytes:
        raise ObjectChanged(f"{entry.key} has {seen} bytes, the index says {entry.bytes}")
