"""Rules for archive members, before a byte of them is read: which names are skipped, which are
refused as unsafe, and the caps that stop a zip bomb. Pure: no I/O."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from dicompress_ingest.errors import IngestAborted

# Metadata that macOS's archiver and Finder add: never part of a study.
_SKIPPED_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
_MAX_NAME = 1024


def decode_name(raw: bytes) -> str:
    """A member's name as text: UTF-8 when it is, else CP437 (the ZIP default)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp437")


def is_skipped(name: str) -> bool:
    """Folders, `__MACOSX/` resource forks, `._*` AppleDouble files and desktop clutter."""
    if name.endswith("/"):
        return True
    parts = name.replace("\\", "/").split("/")
    return "__MACOSX" in parts or parts[-1].startswith("._") or parts[-1] in _SKIPPED_NAMES


def unsafe_reason(name: str) -> str | None:
    """Why a member name is refused (an absolute path, a `..` step, a drive, a control
    character), or None. We never use member names as keys, but a name like these is how a
    malicious archive attacks the tools that unpack it: it is reported, not stored."""
    if not name or len(name) > _MAX_NAME:
        return "its name is empty or longer than 1024 characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "its name contains control characters"
    normal = name.replace("\\", "/")
    if normal.startswith("/") or (len(normal) > 1 and normal[1] == ":"):
        return "its name is an absolute path"
    if ".." in normal.split("/") or posixpath.normpath(normal).startswith(".."):
        return "its name climbs out of the archive ('..')"
    return None


@dataclass(frozen=True)
class Caps:
    """Limits on what one upload may expand to."""

    max_members: int
    max_total_bytes: int
    max_member_bytes: int
    max_ratio: float
    ratio_floor_bytes: int = 16 * 1024 * 1024  # small archives may expand a lot; nothing to fear


class Budget:
    """Counts what the archive has expanded to so far and raises IngestAborted past a cap.

    The ratio is checked as bytes arrive (uncompressed so far / archive bytes read so far), so a
    bomb is stopped after at most one chunk past the cap, before its output is stored.
    """

    def __init__(self, caps: Caps) -> None:
        self.caps = caps
        self.members = 0
        self.total_bytes = 0

    def member(self, name: str) -> None:
        self.members += 1
        if self.members > self.caps.max_members:
            raise IngestAborted(
                "too-many-members",
                f"the archive holds more than {self.caps.max_members} files: split the study "
                "into several uploads, or ask the operator to raise INGEST_MAX_MEMBERS",
                f"stopped at member {name!r}",
            )

    def expanded(self, name: str, member_bytes: int, added: int, archive_read: int) -> None:
        self.total_bytes += added
        caps = self.caps
        if member_bytes > caps.max_member_bytes:
            raise IngestAborted(
                "too-large",
                f"one file of the archive is larger than {caps.max_member_bytes // 2**20} MiB, "
                "more than any DICOM object we accept: check the archive",
                f"member {name!r} passed {member_bytes} bytes",
            )
        if self.total_bytes > caps.max_total_bytes:
            raise IngestAborted(
                "too-large",
                f"the archive expands to more than {caps.max_total_bytes // 2**30} GiB: split "
                "the study into several uploads, or ask the operator to raise "
                "INGEST_MAX_TOTAL_BYTES",
                f"stopped in member {name!r} at {self.total_bytes} bytes",
            )
        if self.total_bytes > caps.ratio_floor_bytes and self.total_bytes > caps.max_ratio * max(
            archive_read, 1
        ):
            raise IngestAborted(
                "suspicious-ratio",
                f"the archive expands more than {caps.max_ratio:g} times its size, as zip bombs "
                "do, so it was not unpacked further: export the study again",
                f"member {name!r}: {self.total_bytes} bytes from {archive_read} archive bytes",
            )
