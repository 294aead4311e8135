"""What `dicompress upload PATH` sends: a .zip as it is, one DICOM file as it is, or a folder
as a ZIP built on the fly (`folder_zip`), and how it is cut into the parts the API planned."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dicompress_stack.errors import StackError
from dicompress_stack.folder_zip import Member, fingerprint, folder_members, zip_size, zip_stream

ZIP = "application/zip"
DICOM = "application/dicom"
_READ = 1024 * 1024


@dataclass(frozen=True)
class Source:
    """One upload's bytes: `members` is set for a folder (zipped), else `path` is sent as is."""

    path: Path
    file_name: str
    content_type: str
    fingerprint: str  # changes when the bytes would
    members: tuple[Member, ...] | None = None
    file_size: int = 0

    @property
    def is_folder(self) -> bool:
        return self.members is not None

    @property
    def input_bytes(self) -> int:
        """Bytes read from disk to send it (a folder's files, before zipping)."""
        if self.members is not None:
            return sum(m.size for m in self.members)
        return self.file_size

    def size(self) -> int:
        """The upload's exact length (a folder: its ZIP is built once to count)."""
        if self.members is not None:
            return zip_size(list(self.members))
        return self.file_size

    def chunks(self, on_read: Callable[[int], None] | None = None) -> Iterator[bytes]:
        """The upload's bytes in order; `on_read` hears of every block read from disk."""
        if self.members is not None:
            yield from zip_stream(list(self.members), on_read)
            return
        with self.path.open("rb") as file:
            while block := file.read(_READ):
                if on_read is not None:
                    on_read(len(block))
                yield block

    def part(self, number: int, part_size: int) -> bytes:
        """Part `number` of a file, read straight from its place (not for folders)."""
        if self.members is not None:
            raise ValueError("a folder's ZIP is read in order, not by part")
        with self.path.open("rb") as file:
            file.seek((number - 1) * part_size)
            return file.read(part_size)


def source_of(path: Path) -> Source:
    """The upload for `path`: a folder, a .zip, or a DICOM file (by its 'DICM' preamble)."""
    path = path.resolve()
    if path.is_dir():
        members = folder_members(path)
        if not members:
            raise StackError(f"{path} holds no files to upload")
        return Source(path, f"{path.name}.zip", ZIP, fingerprint(members), tuple(members))
    if not path.is_file():
        raise StackError(f"{path} is neither a folder nor a file")
    stat = path.stat()
    key = f"{stat.st_size}:{stat.st_mtime_ns}"
    if path.suffix.lower() == ".zip":
        return Source(path, path.name, ZIP, key, file_size=stat.st_size)
    with path.open("rb") as file:
        preamble = file.read(132)
    if preamble[128:132] != b"DICM":
        raise StackError(f"{path} is not a .zip, a folder or a DICOM file (no 'DICM' at 128)")
    return Source(path, path.name, DICOM, key, file_size=stat.st_size)


def cut(chunks: Iterable[bytes], part_size: int) -> Iterator[tuple[int, bytes]]:
    """(number, bytes) of each part of the stream, numbered from 1, every part `part_size`
    bytes but the last."""
    buffer = bytearray()
    number = 0
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= part_size:
            number += 1
            yield number, bytes(buffer[:part_size])
            del buffer[:part_size]
    if buffer or number == 0:
        yield number + 1, bytes(buffer)
