"""CPU seconds of the stack's services (each process with its children, e.g. the compressor's
encoder pool), read twice and subtracted: cheap, one walk of /proc per reading."""

from __future__ import annotations

from collections.abc import Mapping

import psutil
from bench.compare.procwatch import tree_members

from dicompress_stack.config import StackConfig
from dicompress_stack.state import read_state


def service_pids(config: StackConfig) -> dict[str, int]:
    """The pid of each service of the stack, by name, from its stack.json."""
    state = read_state(config.state_path)
    if state is None:
        raise RuntimeError(f"no stack state in {config.state_path}")
    return {record.name: record.pid for record in state.processes}


def cpu_seconds(pids: Mapping[str, int]) -> dict[str, float]:
    """User + system seconds so far of each named process tree: the live members' own time and
    the time of children they have already reaped."""
    found: dict[str, float] = {}
    for name, pid in pids.items():
        total = 0.0
        for member in tree_members([pid]):
            try:
                times = member.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system + times.children_user + times.children_system
        found[name] = total
    return found


def cpu_used(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}
