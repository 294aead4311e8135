"""The process pool that encodes slices: CPU-bound work never runs on the event loop.

A pool process can die (the OOM killer, a crash in a native codec on a malformed file), which
breaks a `ProcessPoolExecutor` for good. `EncoderPool` then builds a new executor and retries the
slice once, so one poison slice fails alone instead of failing every later job.

Work enters the pool through a `LaneGate`: the interactive lane's slices before the batch
lane's (`lanes`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import ParamSpec, TypeVar

from dicompress_compressor.encoder import (
    EncodedSlice,
    EncodeOptions,
    check_encoder_available,
    encode_slice,
)
from dicompress_compressor.errors import EncoderCrashed
from dicompress_compressor.lanes import LaneGate

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class EncoderPool:
    """`encode(data, options)` (or any `call`) in one of `processes` worker processes."""

    def __init__(self, processes: int) -> None:
        self._processes = processes
        self._executor = self._new_executor()
        # One admission more than processes: a process never idles while the next slice is
        # pickled over to it, and an interactive slice still waits for at most one batch slice
        # queued ahead of it.
        self.gate = LaneGate(processes + 1)

    def _new_executor(self) -> ProcessPoolExecutor:
        # spawn, not fork: the parent runs threads (boto3, the event loop's executor), and
        # forking a threaded process can deadlock the child.
        return ProcessPoolExecutor(
            max_workers=self._processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=check_encoder_available,
        )

    async def warm_up(self) -> None:
        """Start every process now (spawn + imports take ~0.5 s) rather than on the first job."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(
                loop.run_in_executor(self._executor, check_encoder_available)
                for _ in range(self._processes)
            )
        )

    async def encode(self, data: bytes, options: EncodeOptions) -> EncodedSlice:
        """Encode one slice; raise what the encoder raised, or EncoderCrashed."""
        return await self.call(encode_slice, data, options)

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` in a pool process (a module-level function, picklable
        arguments); raise what it raised, or EncoderCrashed."""
        async with self.gate.slot():
            return await self._call(functools.partial(fn, *args, **kwargs))

    async def _call(self, work: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            executor = self._executor
            try:
                return await loop.run_in_executor(executor, work)
            except BrokenProcessPool:
                log.error("an encoder process died; replacing the pool", extra={"attempt": attempt})
                if executor is self._executor:  # the first slice to notice replaces it
                    executor.shutdown(wait=False, cancel_futures=True)
                    self._executor = self._new_executor()
        raise EncoderCrashed(
            "the encoder process died twice on this slice: the file is probably malformed"
        )

    def shutdown(self) -> None:
        """Cancel queued slices, wait for the running ones (tens of ms), stop the processes."""
        self._executor.shutdown(wait=True, cancel_futures=True)
