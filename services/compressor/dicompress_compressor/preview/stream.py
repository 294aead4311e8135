"""Preview slices through the pool: download the group (threads) -> bin and encode (a pool
process) -> store at the slice's key (threads), outcomes in index order.

As the compression pipeline (`pipeline.in_index_order`), at most `max_in_flight` groups are in
flight at once, which bounds memory and keeps every pool process busy. A re-run makes every
slice again and overwrites its key with the same bytes (binning and the codecs are
deterministic, the UIDs derive from the job): simpler than reusing, and the same facts.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from dicompress_compressor.errors import SliceRejected
from dicompress_compressor.preview.dataset import PreviewSliceSpec
from dicompress_compressor.preview.encode import PreviewSlice
from dicompress_compressor.preview.plan import Group
from dicompress_compressor.storage import ObjectStore
from dicompress_infra.s3 import S3Uri
from dicompress_schemas.products import preview_slice_key

T = TypeVar("T")
R = TypeVar("R")


class PreviewMaker(Protocol):
    async def make(self, sources: list[bytes], spec: PreviewSliceSpec) -> PreviewSlice: ...


@dataclass(frozen=True)
class GroupOutcome:
    """What became of output slice `group.index`: `made` (stored at `key` when the job stores
    its slices one by one), or None with an `error_code` and a `reason`. `entry_name` is its
    name in the product (the key's last segment, or its ZIP entry)."""

    group: Group
    key: str | None
    entry_name: str
    bytes_in: int
    download_ms: float
    made: PreviewSlice | None
    reason: str = ""
    error_code: str = ""
    upload_ms: float = 0.0


@dataclass(frozen=True)
class GroupWork:
    """What every group of one preview job needs."""

    store: ObjectStore
    maker: PreviewMaker
    target: S3Uri  # the product's prefix
    spec: Callable[[Group], PreviewSliceSpec]
    # True: each slice is stored at its own key (a preview); False: it comes back in its
    # outcome for the caller to put in one artifact (a Mini CT's ZIP or multi-frame object)
    store_slices: bool = True


async def in_order(
    items: Sequence[T], process: Callable[[T], Awaitable[R]], max_in_flight: int
) -> AsyncGenerator[R, None]:
    """`process(item)` for every item, at most `max_in_flight` at once, results in order. Use
    with `contextlib.aclosing` so that leaving early cancels what is still in flight."""
    upcoming = iter(items)
    pending: deque[asyncio.Task[R]] = deque()

    def top_up() -> None:
        while len(pending) < max_in_flight and (item := next(upcoming, None)) is not None:
            pending.append(asyncio.ensure_future(process(item)))

    try:
        top_up()
        while pending:
            result = await pending[0]
            pending.popleft()
            top_up()
            yield result
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


async def make_group(group: Group, work: GroupWork) -> GroupOutcome:
    """Download, bin, encode and store one output slice. Never raises (but for cancellation):
    a failure is the slice's reason."""
    started = time.perf_counter()
    name = entry_name(group.index)
    key = preview_slice_key(work.target.prefix, group.index) if work.store_slices else None
    sources = [member.header.source for member in group.members]
    try:
        data = list(await asyncio.gather(*(work.store.get_bytes(s) for s in sources)))
    except Exception as exc:  # botocore raises many types; the slice fails, the job goes on
        reason = f"download failed: {type(exc).__name__}: {exc}"
        return GroupOutcome(
            group, key, name, 0, _ms_since(started), None, reason, "download-failed"
        )
    bytes_in, download_ms = sum(len(d) for d in data), _ms_since(started)
    try:
        made = await work.maker.make(data, work.spec(group))
    except SliceRejected as exc:  # our refusals already say what is wrong
        return GroupOutcome(group, key, name, bytes_in, download_ms, None, str(exc), exc.code)
    except Exception as exc:  # a codec's error: the slice fails alone
        reason = f"{type(exc).__name__}: {exc}"
        return GroupOutcome(group, key, name, bytes_in, download_ms, None, reason, "codec-error")
    if key is None:
        return GroupOutcome(group, None, name, bytes_in, download_ms, made)
    upload_started = time.perf_counter()
    uri = S3Uri(work.target.bucket, key)
    metadata = {
        "source-key": _ascii(sources[0].key),
        "sop-instance-uid": made.encoded.sop_instance_uid,
    }
    try:
        await work.store.put_bytes(uri, made.encoded.data, metadata)
    except Exception as exc:  # S3 refused or went away: this slice is not available
        reason = f"storing the preview slice failed: {type(exc).__name__}: {exc}"
        return GroupOutcome(group, key, name, bytes_in, download_ms, None, reason, "upload-failed")
    return GroupOutcome(
        group, key, name, bytes_in, download_ms, made, upload_ms=_ms_since(upload_started)
    )


def entry_name(index: int) -> str:
    """Output slice `index`'s file name: the last segment of its `preview_slice_key`, and its
    entry in a Mini CT's ZIP."""
    return f"{index:05d}.dcm"


def _ascii(text: str) -> str:
    return text.encode("ascii", "backslashreplace").decode()


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
