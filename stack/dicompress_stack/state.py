"""`stack.json`: what a running stack is made of, so later commands can find and reuse it."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from dicompress_stack.config import StackConfig
from dicompress_stack.processes import cmdline, pid_alive


class ProcessRecord(BaseModel):
    """One process of the stack; `marker` is in its command line, so a reused pid is not ours."""

    model_config = ConfigDict(frozen=True)

    name: str
    pid: int
    marker: str
    log: Path


class StackState(BaseModel):
    """The config a stack was started with, its endpoints, and its processes."""

    model_config = ConfigDict(frozen=True)

    config: StackConfig
    started_at: str
    endpoints: dict[str, str]
    processes: tuple[ProcessRecord, ...]
    # the `dicompress up` (or demo, or test) process that started the stack and will stop it
    owner_pid: int = 0


def read_state(path: Path) -> StackState | None:
    """The recorded stack, or None if there is none (or the file is unreadable garbage)."""
    try:
        return StackState.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None


def write_state(path: Path, state: StackState) -> None:
    """Write atomically, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(state.model_dump_json(indent=2) + "\n")
    partial.replace(path)


def remove_state(path: Path) -> None:
    path.unlink(missing_ok=True)


def is_alive(record: ProcessRecord) -> bool:
    """Whether the recorded process still runs (and is the one we started)."""
    return pid_alive(record.pid) and record.marker in cmdline(record.pid)
