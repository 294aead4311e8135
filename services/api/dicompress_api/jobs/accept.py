"""The steps of `POST /jobs`, in order: validate, turn a study into its source prefix, look at
the source, check the queue, claim the Idempotency-Key, publish, remember the answer.

Everything that can refuse the request runs before anything is published, so a refused
request leaves no trace. With a key, the claim (one INSERT) is the last step before publishing:
of two concurrent identical requests one publishes and the other answers with its job.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from dicompress_api.adapters.idempotency import KeyRecord, fingerprint
from dicompress_api.jobs.submission import (
    JobAccepted,
    JobRequest,
    SubmitPolicy,
    accepted,
    check_source_choice,
    lane_of,
    plan_job,
)
from dicompress_api.ports import JobStore, Keys, Publisher, Sources, Stats
from dicompress_api.settings import ApiSettings
from dicompress_api.studies.job_source import study_source_uri
from dicompress_api.studies.ports import StudyIndex
from dicompress_api.web.errors import (
    IdempotencyConflict,
    PublishUnavailable,
    QueueFull,
    StoreUnavailable,
    TenantLimit,
)
from dicompress_infra.s3 import S3Uri
from dicompress_schemas import Lane

log = logging.getLogger(__name__)

# How soon to retry a key whose first request is still publishing (seconds).
IN_PROGRESS_RETRY_S = 1


@dataclass(frozen=True)
class Outcome:
    """The answer, and whether it is a replay of an earlier request with the same key."""

    answer: JobAccepted
    replayed: bool


@dataclass(frozen=True)
class Limits:
    max_queue_length: int
    queue_full_retry_after_s: int
    max_active_per_tenant: int
    max_interactive_per_tenant: int

    @classmethod
    def of(cls, settings: ApiSettings) -> Limits:
        return cls(
            settings.api_max_queue_length,
            settings.api_queue_full_retry_after_s,
            settings.api_max_active_per_tenant,
            settings.api_max_interactive_per_tenant,
        )


class Submitter:
    """Runs a submission against the adapters; one per app."""

    def __init__(
        self,
        policy: SubmitPolicy,
        limits: Limits,
        *,
        publisher: Publisher,
        store: JobStore,
        sources: Sources,
        stats: Stats,
        keys: Keys,
        studies: StudyIndex,
    ) -> None:
        self._policy = policy
        self._limits = limits
        self._publisher = publisher
        self._store = store
        self._sources = sources
        self._stats = stats
        self._keys = keys
        self._studies = studies

    async def submit(self, request: JobRequest, tenant: str, key: str | None) -> Outcome:
        request = await self._with_source(request, tenant)
        event = plan_job(request, tenant=tenant, job_id=uuid.uuid4(), policy=self._policy)
        print_ = fingerprint(event)
        abandoned = False
        if key is not None and (earlier := await self._keys.find(tenant, key)) is not None:
            if not await self._abandoned(earlier, print_, tenant):
                return await self._replay(earlier, print_, tenant)
            # Its request died between the claim and the ack: publish the job it promised.
            abandoned = True
            event = plan_job(request, tenant=tenant, job_id=earlier.job_id, policy=self._policy)
        field = "s3SourceUri" if request.study_id is None else "studyId"
        source = await self._sources.inspect(S3Uri.parse(event.source_uri), field)
        await self._check_queue()
        await self._check_tenant(tenant, lane_of(request))
        # Stamped again after the checks that await (the source's listing, the queue's counts):
        # requests made at once then reach their partition in the order of their stamps, the
        # order a worker serves them in (`oldest_first`) and GET /queue places them in. In a
        # 10-study burst, stamps taken first were 0.1-0.4 s older than the publishing, in
        # another order: the worker served the oldest-stamped job 7th of 10.
        event = event.model_copy(update={"occurred_at": datetime.now(UTC)})
        answer = accepted(event, source, key, request)
        if key is not None:
            response = answer.model_dump(mode="json", by_alias=True)
            if abandoned:
                if not await self._keys.take_over(tenant, key, print_, response):
                    return await self._replay_current(tenant, key, print_)
            else:
                won = await self._keys.claim(tenant, key, print_, event.job_id, response)
                if won is not None:
                    return await self._replay(won, print_, tenant)
        try:
            await self._publisher.publish(event, answer.priority)
        except PublishUnavailable:
            if key is not None:
                await self._forget(tenant, key)
            raise
        if key is not None:
            await self._mark_published(tenant, key, event.job_id)
        return Outcome(answer, replayed=False)

    async def _with_source(self, request: JobRequest, tenant: str) -> JobRequest:
        """`request` with its source prefix: a study (or series) becomes the prefix of its
        instances; 422 unless exactly one source is given, 404 for an unknown study."""
        check_source_choice(request)
        if request.study_id is None:
            return request
        uri = await study_source_uri(
            self._studies,
            tenant,
            request.study_id,
            request.series_uid,
            self._policy.study_bucket,
        )
        return request.model_copy(update={"s3_source_uri": uri})

    async def _check_queue(self) -> None:
        queued = await self._stats.queued_count()
        if queued >= self._limits.max_queue_length:
            raise QueueFull(
                f"{queued} jobs are waiting, the most this service queues is "
                f"{self._limits.max_queue_length}",
                retry_after_s=self._limits.queue_full_retry_after_s,
            )

    async def _check_tenant(self, tenant: str, lane: Lane) -> None:
        """Fair shares (docs/SCHEDULING.md): a clinic's jobs in the queue are bounded, and its
        interactive ones more tightly, so no clinic fills a lane the others wait in. Read from
        the projection: a burst faster than it can go over by what it has not applied yet."""
        load = await self._stats.tenant_load(tenant)
        limits, retry = self._limits, self._limits.queue_full_retry_after_s
        if load.active >= limits.max_active_per_tenant:
            raise TenantLimit(
                f"this clinic has {load.active} jobs waiting or running, the most it may have "
                f"is {limits.max_active_per_tenant}",
                retry_after_s=retry,
            )
        if lane is Lane.INTERACTIVE and load.interactive >= limits.max_interactive_per_tenant:
            raise TenantLimit(
                f"this clinic has {load.interactive} interactive jobs waiting or running, the "
                f"most it may have is {limits.max_interactive_per_tenant}: send this one with "
                '"priority": "batch", or wait until one ends',
                retry_after_s=retry,
            )

    async def _replay(self, record: KeyRecord, print_: str, tenant: str) -> Outcome:
        if record.fingerprint != print_:
            raise IdempotencyConflict(
                f"this Idempotency-Key was used for another request (job {record.job_id}); "
                "use a new key for a different request"
            )
        row = await self._store.get(record.job_id, tenant)
        if not record.published and row is None:
            raise IdempotencyConflict(
                f"the first request with this Idempotency-Key (job {record.job_id}) is still "
                f"being published; retry in {IN_PROGRESS_RETRY_S} s",
                retry_after_s=IN_PROGRESS_RETRY_S,
            )
        answer = JobAccepted.model_validate(record.response)
        if row is not None and row.get("status"):
            answer = answer.model_copy(update={"status": row["status"]})
        return Outcome(answer, replayed=True)

    async def _abandoned(self, record: KeyRecord, print_: str, tenant: str) -> bool:
        """An unpublished claim of this very request, too old to be in flight, whose job the
        projection never saw (had it been published, the job would be there)."""
        return (
            record.abandoned
            and not record.published
            and record.fingerprint == print_
            and await self._store.get(record.job_id, tenant) is None
        )

    async def _replay_current(self, tenant: str, key: str, print_: str) -> Outcome:
        """Another retry took the abandoned claim over first: answer as its replay."""
        record = await self._keys.find(tenant, key)
        if record is None:  # expired in between: rare enough for a plain retry
            raise IdempotencyConflict(
                "the Idempotency-Key changed hands while this request ran; retry",
                retry_after_s=IN_PROGRESS_RETRY_S,
            )
        return await self._replay(record, print_, tenant)

    async def _forget(self, tenant: str, key: str) -> None:
        try:
            await self._keys.release(tenant, key)
        except StoreUnavailable:
            # The record stays unpublished: a retry waits for the projection, then the TTL.
            log.warning("could not release an idempotency key", extra={"tenant": tenant})

    async def _mark_published(self, tenant: str, key: str, job_id: uuid.UUID) -> None:
        try:
            await self._keys.published(tenant, key)
        except StoreUnavailable:
            # The job is on the log; a retry finds it in the projection instead.
            log.warning("could not mark a key published", extra={"job_id": str(job_id)})
