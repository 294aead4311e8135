"""The slice pipeline: download (threads) -> encode (processes) -> results in index order.

At most `max_in_flight` slices are downloading or encoding at once, which bounds memory and
keeps every pool process busy. Results are yielded strictly in index order (so events and ZIP
entries are too); slices that finish early wait in their tasks until their turn.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Protocol

from dicompress_compressor.encoder import EncodedSlice, EncodeOptions
from dicompress_compressor.errors import SliceRejected
from dicompress_compressor.storage import ObjectStore, SourceObject


class SliceEncoder(Protocol):
    async def encode(self, data: bytes, options: EncodeOptions) -> EncodedSlice: ...


@dataclass(frozen=True)
class SliceOutcome:
    """What became of slice `index`: `encoded`, or None with an `error_code` and a `reason`."""

    index: int
    source: SourceObject
    bytes_in: int
    download_ms: float
    encoded: EncodedSlice | None
    reason: str = ""
    error_code: str = ""


async def in_index_order(
    sources: list[SourceObject],
    store: ObjectStore,
    encoder: SliceEncoder,
    options: EncodeOptions,
    max_in_flight: int,
) -> AsyncGenerator[SliceOutcome, None]:
    """Yield one outcome per source, in order. Use with `contextlib.aclosing` so that leaving
    early cancels the slices still in flight."""
    upcoming = iter(enumerate(sources))
    pending: deque[asyncio.Task[SliceOutcome]] = deque()

    def top_up() -> None:
        while len(pending) < max_in_flight and (item := next(upcoming, None)) is not None:
            pending.append(asyncio.create_task(_process(*item, store, encoder, options)))

    try:
        top_up()
        while pending:
            outcome = await pending[0]  # still in `pending` if we are cancelled right here
            pending.popleft()
            top_up()
            yield outcome
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


async def _process(
    index: int,
    source: SourceObject,
    store: ObjectStore,
    encoder: SliceEncoder,
    options: EncodeOptions,
) -> SliceOutcome:
    """Download and encode one slice. Never raises: a failure is the slice's reason."""
    started = time.perf_counter()
    try:
        data = await store.get_bytes(source)
    except Exception as exc:  # botocore raises many types; the slice fails, the job goes on
        reason = f"download failed: {type(exc).__name__}: {exc}"
        return SliceOutcome(index, source, 0, _ms_since(started), None, reason, "download-failed")
    download_ms = _ms_since(started)
    try:
        encoded = await encoder.encode(data, options)
    except SliceRejected as exc:  # our refusals already say what is wrong
        return SliceOutcome(index, source, len(data), download_ms, None, str(exc), exc.code)
    except Exception as exc:  # a codec error from pydicom/OpenJPEG: the slice fails alone
        reason = f"{type(exc).__name__}: {exc}"
        return SliceOutcome(index, source, len(data), download_ms, None, reason, "codec-error")
    return SliceOutcome(index, source, len(data), download_ms, encoded)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
