"""Upcasters: pure functions lifting an old event version to the current one, applied on read.

The log keeps the old bytes forever; every reader (events and commands alike: `codec`,
`commands`) sees the current shape. A breaking change adds version N+1 of an event, its frozen
version N in `legacy.py`, and `upcast_<event>_vN_vN+1(raw) -> raw` here, registered in `_CHAIN`.

Version 2 of SliceEncoded and CompressionRequested: PSNR is measured over each slice's own value
range instead of against the BitsStored peak (issue 16).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Raw = dict[str, Any]


def upcast_slice_encoded_v1_v2(raw: Raw) -> Raw:
    """A v1 slice's `psnr` was measured against 2**BitsStored - 1, which the event does not
    carry, so it cannot become `psnr_db` (over the slice's range): it is dropped, not passed off
    as the new measure (the log and `job_events` keep the v1 bytes for an auditor). Neither can
    `max_error_hu` be computed without the slope: None. `max_abs_error` (stored units) means the
    same in both versions and is kept."""
    lifted = {key: value for key, value in raw.items() if key != "psnr"}
    return lifted | {"version": 2, "psnr_db": None, "max_error_hu": None}


def upcast_compression_requested_v1_v2(raw: Raw) -> Raw:
    """A v1 floor `min_psnr` X (against the BitsStored peak) becomes `min_psnr_db` X (over the
    slice's range). The range is never above the BitsStored peak, so a slice's new figure is never
    above its old one: a slice that reaches X by the new measure reached X by the old, and the
    job is never held to a looser floor than it asked for (at worst a stricter one)."""
    lifted = {key: value for key, value in raw.items() if key != "min_psnr"}
    return lifted | {"version": 2, "min_psnr_db": raw.get("min_psnr")}


_CHAIN: dict[tuple[str, int], Callable[[Raw], Raw]] = {
    ("SliceEncoded", 1): upcast_slice_encoded_v1_v2,
    ("CompressionRequested", 1): upcast_compression_requested_v1_v2,
}


def upcast(raw: Raw) -> Raw:
    """Apply every registered upcaster until the event is at its current version."""
    while (step := _CHAIN.get((str(raw.get("type")), int_or_zero(raw.get("version"))))) is not None:
        raw = step(raw)
    return raw


def int_or_zero(value: object) -> int:
    return value if isinstance(value, int) else 0
