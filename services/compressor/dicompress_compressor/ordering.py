"""Which slice is which: natural ordering of source keys and the artifact's entry names."""

from __future__ import annotations

import re
from collections.abc import Iterable

_DIGITS = re.compile(r"(\d+)")


def natural_key(key: str) -> tuple[tuple[str | int, ...], str]:
    """Sort key that orders numbers by value: 'IM2.dcm' before 'IM10.dcm'.

    re.split with a group alternates text and digits, always starting with text, so the same
    position always holds the same type and tuples compare safely; the key itself breaks ties
    ('a01' vs 'a1').
    """
    parts = _DIGITS.split(key)
    return tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts)), key


def natural_sorted(keys: Iterable[str]) -> list[str]:
    """The keys in natural order (how a person numbers slices, and how exporters name them)."""
    return sorted(keys, key=natural_key)


def entry_name(slice_index: int) -> str:
    """Name of slice `slice_index` inside the ZIP: zero-padded, so any tool lists them in order."""
    return f"{slice_index:05d}.dcm"
