"""A worker's side of a job spread over the group: one slice-range task at a time.

The task's slices are encoded and stored in the job's folder exactly as the owner would store
them (same keys, same metadata, the same pipeline), then a marker says the range is done. No
event: the owner reuses the stored slices in order and emits their events (`split`). A slice
that fails here is left for the owner, who makes it again and reports why. A task of a job
already cancelled is skipped; a cancel arriving mid-task stops its slices at once.
"""

from __future__ import annotations

import logging
from contextlib import aclosing
from dataclasses import dataclass

import orjson

from dicompress_compressor.cancellation import CancelRegistry
from dicompress_compressor.lanes import in_lane
from dicompress_compressor.lifecycle import JobAborted
from dicompress_compressor.options import encode_options
from dicompress_compressor.pipeline import SliceEncoder, SliceWork, in_index_order
from dicompress_compressor.slices import job_prefix, stored_slices
from dicompress_compressor.split import task_marker
from dicompress_compressor.storage import ObjectStore, SourceObject
from dicompress_infra.running import until_set
from dicompress_infra.s3 import LocationRefused, request_locations
from dicompress_schemas.tasks import SliceRangeRequested

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskRunner:
    store: ObjectStore
    encoder: SliceEncoder
    worker: str
    max_in_flight: int
    cancellations: CancelRegistry
    allowed_buckets: frozenset[str] | None = None

    async def run(self, task: SliceRangeRequested) -> None:
        """Make the task's slices, in its job's lane (interactive slices go first)."""
        await in_lane(task.lane, self._run(task))

    async def _run(self, task: SliceRangeRequested) -> None:
        first = task.slices[0].index
        extra = {"job_id": str(task.job_id), "tenant": task.tenant, "first": first}
        if self.cancellations.reason(task.job_id) is not None:
            log.info("task of a cancelled job skipped", extra=extra)
            return
        request = task.request
        try:
            source, target = request_locations(
                request.source_uri, request.target_uri, self.allowed_buckets, "the owner's"
            )
            options = encode_options(request)
        except (LocationRefused, JobAborted) as exc:  # the owner fails the job with the reason
            log.warning("task refused", extra={**extra, "reason": str(exc)})
            return
        own = job_prefix(target.bucket, task.tenant, task.job_id)
        work = SliceWork(
            self.store, self.encoder, options, own, await stored_slices(self.store, own)
        )
        sources = [SourceObject(source.bucket, s.key, s.size) for s in task.slices]
        cancelled = self.cancellations.watch(task.job_id)
        try:
            done = await until_set(cancelled, self._make(work, sources, first))
        finally:
            self.cancellations.unwatch(task.job_id)
        if done.cancelled():
            log.info("task stopped: its job was cancelled", extra=extra)
            return
        encoded, failed = done.result()
        marker = orjson.dumps({"worker": self.worker, "encoded": encoded, "failed": failed})
        await self.store.put_bytes(task_marker(own, first), marker, {"worker": self.worker})
        log.info("task done", extra={**extra, "encoded": encoded, "failed": failed})

    async def _make(
        self, work: SliceWork, sources: list[SourceObject], first: int
    ) -> tuple[int, int]:
        encoded = failed = 0
        outcomes = in_index_order(sources, work, self.max_in_flight, first)
        async with aclosing(outcomes):
            async for outcome in outcomes:
                if outcome.encoded is None:
                    failed += 1
                else:
                    encoded += 1
        return encoded, failed
