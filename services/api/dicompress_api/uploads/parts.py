"""How an upload is cut into parts, within S3's rules for multipart uploads: at most 10,000
parts, every part but the last at least 5 MiB, none above 5 GiB.

The part size is the setting unless the upload would need more than 10,000 parts; then it is
the smallest whole number of MiB that fits. Part `n` (from 1) covers bytes
[(n - 1) * part_size, n * part_size) of the upload, so client and server agree on every
part's size from (size, part_size) alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MIB = 1024 * 1024
MIN_PART_BYTES = 5 * MIB
MAX_PART_BYTES = 5 * 1024 * MIB
MAX_PARTS = 10_000


@dataclass(frozen=True)
class PartPlan:
    """An upload of `size` bytes in parts of `part_size` (the last one shorter)."""

    size: int
    part_size: int

    @property
    def count(self) -> int:
        return max(1, -(-self.size // self.part_size))

    def part_bytes(self, number: int) -> int:
        """The size part `number` must have."""
        if not 1 <= number <= self.count:
            raise ValueError(f"part {number} is outside 1..{self.count}")
        return min(self.part_size, self.size - (number - 1) * self.part_size)

    def numbers(self) -> range:
        return range(1, self.count + 1)


@dataclass(frozen=True)
class PartCheck:
    """What stands between the parts received and a complete upload."""

    missing: tuple[int, ...]
    wrong_size: tuple[int, ...]
    unexpected: tuple[int, ...]

    @property
    def complete(self) -> bool:
        """Every planned part is there with its size; parts past the plan do not matter
        (completing without them leaves them out)."""
        return not (self.missing or self.wrong_size)


def plan_parts(size: int, preferred: int) -> PartPlan:
    """The plan for `size` bytes with parts of `preferred` bytes where S3's limits allow."""
    if size < 1:
        raise ValueError("an upload has at least one byte")
    part_size = max(preferred, MIN_PART_BYTES)
    if -(-size // part_size) > MAX_PARTS:
        part_size = -(-size // MAX_PARTS)
        part_size = -(-part_size // MIB) * MIB
    if part_size > MAX_PART_BYTES:
        raise ValueError(f"{size} bytes need parts above S3's 5 GiB limit")
    return PartPlan(size, part_size)


def check_parts(plan: PartPlan, received: Mapping[int, int]) -> PartCheck:
    """Compare the parts S3 holds (number -> size) with the plan."""
    expected = set(plan.numbers())
    wrong = (n for n, size in received.items() if n in expected and size != plan.part_bytes(n))
    return PartCheck(
        missing=tuple(sorted(expected - received.keys())),
        wrong_size=tuple(sorted(wrong)),
        unexpected=tuple(sorted(received.keys() - expected)),
    )
