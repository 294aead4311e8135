"""The slice pipeline: download (threads) -> encode (processes) -> upload (threads), results in
index order.

At most `max_in_flight` slices are downloading, encoding or uploading at once, which bounds
memory (never the whole series) and keeps every pool process busy. Each encoded slice is stored
at its deterministic key before its outcome is yielded, and a slice already stored by an earlier
run of the job, or by another worker's task (`split`), is fetched instead of encoded. Results
are yielded strictly in index order (so events and ZIP entries are too); slices that finish
early wait in their tasks until their turn.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass, replace
from typing import Protocol

from dicompress_compressor.encoder import EncodedSlice, EncodeOptions
from dicompress_compressor.errors import SliceRejected
from dicompress_compressor.slices import restore_slice, slice_metadata, slice_uri
from dicompress_compressor.storage import ObjectStore, SourceObject
from dicompress_infra.s3 import S3Uri
from dicompress_schemas.envelope import key_problem


class SliceEncoder(Protocol):
    async def encode(self, data: bytes, options: EncodeOptions) -> EncodedSlice: ...


UNSAFE_NAME = "unsafe-name"  # a SliceFailed error_code: a key S3 clients cannot sign


@dataclass(frozen=True)
class SliceWork:
    """What every slice of one job needs: adapters, options, and where its slices go."""

    store: ObjectStore
    encoder: SliceEncoder
    options: EncodeOptions
    own: S3Uri  # the job's folder (`slices.job_prefix`), where its slices are stored
    stored: frozenset[int] = frozenset()  # indices an earlier run already stored
    remote: RemoteStore | None = None  # slices other workers are making (`split`)


class RemoteStore(Protocol):
    async def wait_for(self, index: int) -> bool:
        """True once another worker stored slice `index`; False: make it here."""


@dataclass(frozen=True)
class SliceOutcome:
    """What became of slice `index`: `encoded` (stored at `slice_key`), or None with an
    `error_code` and a `reason`."""

    index: int
    source: SourceObject
    bytes_in: int
    download_ms: float
    encoded: EncodedSlice | None
    reason: str = ""
    error_code: str = ""
    slice_key: str | None = None
    upload_ms: float = 0.0
    reused: bool = False  # taken from an earlier run's stored slice, not encoded again


async def in_index_order(
    sources: list[SourceObject], work: SliceWork, max_in_flight: int, first: int = 0
) -> AsyncGenerator[SliceOutcome, None]:
    """Yield one outcome per source, in order; the sources are slices `first`, `first` + 1...
    of the job. Use with `contextlib.aclosing` so that leaving early cancels the slices still
    in flight."""
    upcoming = iter(enumerate(sources, start=first))
    pending: deque[asyncio.Task[SliceOutcome]] = deque()

    def top_up() -> None:
        while len(pending) < max_in_flight and (item := next(upcoming, None)) is not None:
            pending.append(asyncio.create_task(_process(*item, work)))

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


async def _process(index: int, source: SourceObject, work: SliceWork) -> SliceOutcome:
    """Reuse, or download, encode and store one slice. Never raises: a failure is the slice's
    reason."""
    started = time.perf_counter()
    target = slice_uri(work.own, index)
    refused = key_problem(source.key)
    if refused is not None:  # never read: some S3 clients cannot even sign the request
        return SliceOutcome(
            index, source, 0, 0.0, None, f"this file was left out: {refused}", UNSAFE_NAME
        )
    if index in work.stored:
        found = await _reuse(index, source, work)
        if found is not None:
            return found
    elif work.remote is not None and await work.remote.wait_for(index):
        found = await _reuse(index, source, work)
        if found is not None:  # made for this run, by another worker: its encoding counts
            return replace(found, reused=False)
    try:
        data = await work.store.get_bytes(source)
    except Exception as exc:  # botocore raises many types; the slice fails, the job goes on
        reason = f"download failed: {type(exc).__name__}: {exc}"
        return SliceOutcome(index, source, 0, _ms_since(started), None, reason, "download-failed")
    download_ms = _ms_since(started)
    try:
        encoded = await work.encoder.encode(data, work.options)
    except SliceRejected as exc:  # our refusals already say what is wrong
        return SliceOutcome(index, source, len(data), download_ms, None, str(exc), exc.code)
    except Exception as exc:  # a codec error from pydicom/OpenJPEG: the slice fails alone
        reason = f"{type(exc).__name__}: {exc}"
        return SliceOutcome(index, source, len(data), download_ms, None, reason, "codec-error")
    upload_started = time.perf_counter()
    try:
        await work.store.put_bytes(
            target, encoded.data, slice_metadata(encoded, source.key, len(data))
        )
    except Exception as exc:  # S3 refused or went away: this slice is not available
        reason = f"storing the encoded slice failed: {type(exc).__name__}: {exc}"
        return SliceOutcome(index, source, len(data), download_ms, None, reason, "upload-failed")
    return SliceOutcome(
        index, source, len(data), download_ms, encoded,
        slice_key=target.key, upload_ms=_ms_since(upload_started),
    )  # fmt: skip


async def _reuse(index: int, source: SourceObject, work: SliceWork) -> SliceOutcome | None:
    """The slice an earlier run stored, if it is there and was made from this source."""
    started = time.perf_counter()
    target = slice_uri(work.own, index)
    try:
        found = await work.store.get_with_metadata(target)
    except Exception:  # unreadable: encoding it again is always correct
        return None
    restored = None if found is None else restore_slice(*found, source.key)
    if restored is None:
        return None
    encoded, bytes_in = restored
    return SliceOutcome(
        index, source, bytes_in, _ms_since(started), encoded, slice_key=target.key, reused=True
    )


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
