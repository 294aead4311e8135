"""The resume file of an upload: which API upload a path is being sent as.

Kept under `$XDG_CACHE_HOME/dicompress/uploads/` (or `~/.cache/...`), named by a hash of the
API, the path and its fingerprint (size and mtime; a folder's names, sizes and mtimes): the
same unchanged source resumes its upload, a changed one starts a new upload. Removed once the
upload is completed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class UploadState:
    upload_id: str
    size: int
    part_size: int


def cache_dir(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dicompress" / "uploads"


def state_path(directory: Path, api_url: str, source: Path, fingerprint: str) -> Path:
    key = f"{api_url}\0{source}\0{fingerprint}".encode()
    return directory / f"{hashlib.sha256(key).hexdigest()[:32]}.json"


def load_state(path: Path) -> UploadState | None:
    """The recorded upload, or None (none, or unreadable)."""
    try:
        raw = json.loads(path.read_text())
        return UploadState(str(raw["upload_id"]), int(raw["size"]), int(raw["part_size"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_state(path: Path, state: UploadState) -> None:
    """Atomically, so an interrupted write never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(asdict(state)) + "\n")
    partial.replace(path)


def forget_state(path: Path) -> None:
    path.unlink(missing_ok=True)
