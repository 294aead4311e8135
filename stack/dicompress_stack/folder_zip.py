"""A folder as a ZIP, streamed and byte-for-byte the same every time it is built.

`dicompress upload FOLDER` sends this ZIP without writing it anywhere. Resuming a presigned
upload rebuilds it and skips the parts S3 already holds, so two builds must give the same
bytes: members in sorted order, the same fixed timestamp (1980-01-01, the ZIP epoch) and
permissions on every member, deflate at zlib's default level, and data descriptors (the output
is a stream, never seeked). The folder's fingerprint (names, sizes, mtimes) tells whether it
changed since the upload began. Hidden files (a leading '.') and symlinks are left out.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

_EPOCH = (1980, 1, 1, 0, 0, 0)
_READ = 1024 * 1024
_ZIP64_FROM = 2**31  # members this large get ZIP64 sizes from the start


@dataclass(frozen=True)
class Member:
    name: str  # relative, with '/'
    path: Path
    size: int
    mtime_ns: int


def folder_members(root: Path) -> list[Member]:
    """The regular files under `root`, by name; hidden ones and symlinks left out."""
    found: list[Member] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            path = Path(folder, name)
            if name.startswith(".") or path.is_symlink() or not path.is_file():
                continue
            stat = path.stat()
            relative = path.relative_to(root).as_posix()
            found.append(Member(relative, path, stat.st_size, stat.st_mtime_ns))
    return sorted(found, key=lambda m: m.name)


def fingerprint(members: list[Member]) -> str:
    """Changes when any member is added, removed, resized or touched."""
    digest = hashlib.sha256()
    for m in members:
        digest.update(f"{m.name}\0{m.size}\0{m.mtime_ns}\n".encode())
    return digest.hexdigest()


def zip_stream(
    members: list[Member], on_read: Callable[[int], None] | None = None
) -> Iterator[bytes]:
    """The ZIP of `members` as chunks of bytes, built while it is read."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for member in members:
            info = zipfile.ZipInfo(member.name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            info.create_system = 3  # unix, wherever it is built
            info.file_size = member.size
            big = member.size >= _ZIP64_FROM
            with member.path.open("rb") as source, archive.open(info, "w", force_zip64=big) as out:
                while block := source.read(_READ):
                    out.write(block)
                    if on_read is not None:
                        on_read(len(block))
                    if sink.pending:
                        yield sink.take()
        if sink.pending:
            yield sink.take()
    if sink.pending:
        yield sink.take()  # the central directory, written on close


def zip_size(members: list[Member]) -> int:
    """The length of `zip_stream(members)`, by building it once and counting."""
    return sum(len(chunk) for chunk in zip_stream(members))


class _Sink(io.RawIOBase):
    """Where zipfile writes: collects bytes until the stream takes them. Not seekable, so
    zipfile writes data descriptors instead of going back to patch headers."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []
        self.pending = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._chunks.append(bytes(data))
        self.pending += len(data)
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        self.pending = 0
        return data
