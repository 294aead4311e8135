"""Members of an uploaded archive, read from S3 as a stream: never the whole archive in memory or
on disk, and each member's bytes as they are inflated.

Most ZIPs stream (local headers carry sizes, or Deflate marks its own end). A STORED member
written with a data descriptor cannot be streamed (its end is unknowable from the bytes), so
for such an archive we read the central directory at its end with ranged GETs and continue from
the member where streaming stopped. An upload that is not a ZIP is one member: a DICOM file.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Protocol

from stream_unzip import NotStreamUnzippable, UnzipError, stream_unzip

from dicompress_ingest.errors import IngestAborted
from dicompress_ingest.members import decode_name

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or an empty archive
CHUNK = 1024 * 1024


class ArchiveSource(Protocol):
    """The uploaded object: its size, a stream of it, and ranged reads."""

    size: int

    def stream(self) -> Iterator[bytes]: ...

    def read_range(self, start: int, length: int) -> bytes: ...


@dataclass
class Member:
    """One member: its name and its bytes, to be consumed before the next member is asked for."""

    index: int
    name: str
    chunks: Iterator[bytes]


class Counted:
    """Counts the archive bytes read so far (what the zip-bomb ratio is measured against)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks
        self.read = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.read += len(chunk)
            yield chunk


def is_zip(head: bytes) -> bool:
    return head[:4] in ZIP_MAGIC


def members(source: ArchiveSource, file_name: str, counter: Counted) -> Iterator[Member]:
    """Every member in archive order; a non-ZIP upload is the single member `file_name`."""
    chunks = iter(counter)
    first = next(chunks, b"")
    if not is_zip(first):
        yield Member(0, file_name, _prepend(first, chunks))
        return
    done = 0
    try:
        for name, _size, data in stream_unzip(_prepend(first, chunks), chunk_size=CHUNK):
            yield Member(done, decode_name(name), _checked(data))
            done += 1
        return
    except NotStreamUnzippable:
        pass  # read the rest through the central directory, below
    except UnzipError as exc:
        raise _broken(exc) from exc
    yield from _from_central_directory(source, done, counter)


def _from_central_directory(source: ArchiveSource, skip: int, counter: Counted) -> Iterator[Member]:
    try:
        archive = zipfile.ZipFile(io.BufferedReader(_RangedFile(source, counter), CHUNK))
        infos = archive.infolist()
        for index, info in enumerate(infos[skip:], start=skip):
            with archive.open(info) as opened:
                yield Member(index, info.filename, _read_chunks(opened))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
        raise _broken(exc) from exc


def _checked(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """A streamed member's bytes; damage found while inflating ends the ingest in words."""
    try:
        yield from chunks
    except UnzipError as exc:
        raise _broken(exc) from exc


def _read_chunks(opened: IO[bytes]) -> Iterator[bytes]:
    while chunk := opened.read(CHUNK):
        yield chunk


def _broken(exc: Exception) -> IngestAborted:
    return IngestAborted(
        "not-an-archive",
        "the upload is not a ZIP archive we can read (damaged, encrypted or cut short): "
        "export the study again and upload it once more",
        f"{type(exc).__name__}: {exc}",
    )


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


class _RangedFile(io.RawIOBase):
    """A seekable, read-only file over ranged GETs of the archive (for `zipfile`)."""

    def __init__(self, source: ArchiveSource, counter: Counted) -> None:
        self._source = source
        self._counter = counter
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._source.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]  # typeshed: Buffer
        want = min(len(buffer), self._source.size - self._pos)
        if want <= 0:
            return 0
        data = self._source.read_range(self._pos, want)
        buffer[: len(data)] = data
        self._pos += len(data)
        self._counter.read += len(data)
        return len(data)
