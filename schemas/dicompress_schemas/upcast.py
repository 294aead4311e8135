"""Upcasters: pure functions lifting an old event version to the current one, applied on read.

There is only version 1 of every event so far. When a breaking change adds version 2 of, say,
`SliceEncoded`, add `upcast_slice_encoded_v1_v2(raw) -> raw` here and register it in `_CHAIN`;
the log keeps the old bytes forever and every reader sees the new shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Raw = dict[str, Any]

_CHAIN: dict[tuple[str, int], Callable[[Raw], Raw]] = {}


def upcast(raw: Raw) -> Raw:
    """Apply every registered upcaster until the event is at its current version."""
    while (step := _CHAIN.get((str(raw.get("type")), int_or_zero(raw.get("version"))))) is not None:
        raw = step(raw)
    return raw


def int_or_zero(value: object) -> int:
    return value if isinstance(value, int) else 0
