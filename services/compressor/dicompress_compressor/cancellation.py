"""Cancellation: which jobs were cancelled, and the control-topic reader that learns it.

Any compressor may hold the job, so each one reads the whole control topic without a consumer
group. It starts `lookback_s` before the end (by timestamp), so a cancel sent just before this
worker started, for a job still queued, is not missed; older commands concern jobs long done.
The set of cancelled ids is bounded (the oldest are forgotten first): it only has to cover the
jobs still queued or running.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict

from aiokafka import AIOKafkaConsumer, TopicPartition

from dicompress_schemas import CancelRequested, DecodeError, decode_command

log = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 200  # cancels are acted on within this plus the job's teardown


class CancelRegistry:
    """The cancelled job ids (at most `capacity`), and an event per running job to wake it."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._cancelled: OrderedDict[uuid.UUID, str] = OrderedDict()
        # one event per watched job, shared by its watchers in this process (the job's owner
        # and the tasks of it this worker runs), kept while any of them watches
        self._watchers: dict[uuid.UUID, tuple[asyncio.Event, int]] = {}

    def cancel(self, job_id: uuid.UUID, reason: str) -> None:
        self._cancelled[job_id] = reason
        self._cancelled.move_to_end(job_id)
        while len(self._cancelled) > self.capacity:
            self._cancelled.popitem(last=False)
        if (watched := self._watchers.get(job_id)) is not None:
            watched[0].set()

    def reason(self, job_id: uuid.UUID) -> str | None:
        """Why the job was cancelled, or None if it was not (or long ago)."""
        return self._cancelled.get(job_id)

    def watch(self, job_id: uuid.UUID) -> asyncio.Event:
        """An event set when the job is cancelled (already set if it is); `unwatch` after."""
        watcher, count = self._watchers.get(job_id, (asyncio.Event(), 0))
        self._watchers[job_id] = (watcher, count + 1)
        if job_id in self._cancelled:
            watcher.set()
        return watcher

    def unwatch(self, job_id: uuid.UUID) -> None:
        watcher, count = self._watchers.pop(job_id, (asyncio.Event(), 0))
        if count > 1:
            self._watchers[job_id] = (watcher, count - 1)


class ControlListener:
    """Reads the control topic into a `CancelRegistry` until cancelled."""

    def __init__(
        self, bootstrap_servers: str, topic: str, registry: CancelRegistry, lookback_s: float
    ) -> None:
        self.registry = registry
        self.topic = topic
        self.lookback_s = lookback_s
        self.ready = asyncio.Event()  # set once positioned: /healthz waits for it
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers, enable_auto_commit=False, group_id=None
        )

    async def start(self) -> None:
        await self._consumer.start()
        await self._consumer.topics()  # loads the cluster's metadata, partitions included
        partitions = [
            TopicPartition(self.topic, p)
            for p in sorted(self._consumer.partitions_for_topic(self.topic) or {0})
        ]
        self._consumer.assign(partitions)
        since_ms = int((time.time() - self.lookback_s) * 1000)
        found = await self._consumer.offsets_for_times(dict.fromkeys(partitions, since_ms))
        for partition in partitions:
            offset = found.get(partition)
            if offset is None:  # nothing that recent: from the end
                await self._consumer.seek_to_end(partition)
            else:
                self._consumer.seek(partition, offset.offset)
        self.ready.set()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def run(self) -> None:
        """Apply commands as they come; a bad one is logged and skipped, never fatal."""
        while True:
            batch = await self._consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)
            for records in batch.values():
                for record in records:
                    self._apply(record.value or b"", record.offset)

    def _apply(self, value: bytes, offset: int) -> None:
        try:
            command = decode_command(value)
        except DecodeError as exc:
            # every compressor reads every command: the progress worker, which records them,
            # is the one place a bad one is dead-lettered; here it is only skipped
            log.warning(
                "bad command skipped",
                extra={"topic": self.topic, "offset": offset, "reason": exc.reason},
            )
            return
        if isinstance(command, CancelRequested):
            log.info(
                "cancel requested",
                extra={"job_id": str(command.job_id), "topic": self.topic, "offset": offset},
            )
            self.registry.cancel(command.job_id, command.reason)
