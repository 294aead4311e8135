"""The API's adapters, as protocols: tests pass fakes into `create_app` through these."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from dicompress_api.adapters.idempotency import KeyRecord
from dicompress_api.jobs.listing import JobFilter
from dicompress_api.jobs.queue import TenantLoad, Throughput
from dicompress_api.jobs.sources import SourceInfo
from dicompress_infra.s3 import S3Uri
from dicompress_schemas import CompressionRequested, Lane
from dicompress_schemas.commands import Command


class Publisher(Protocol):
    """Puts a job's first event on the log."""

    async def start(self) -> None:
        """Begin connecting; must return even when the broker is unreachable."""

    async def close(self) -> None: ...

    async def publish(self, event: CompressionRequested, lane: Lane) -> None:
        """Put the request in `lane`'s queue. Return once the broker acknowledged the event;
        raise PublishUnavailable if it did not in time, in which case the event must never be
        delivered later."""

    async def send_command(self, command: Command) -> None:
        """Put a command on the control topic, with the same guarantees as `publish`."""

    async def problem(self) -> str | None:
        """None when ready to publish, else what is wrong (for /readyz)."""


class JobStore(Protocol):
    """Reads the jobs projection written by the progress service."""

    async def start(self) -> None:
        """Prepare connections; must return even when the database is unreachable."""

    async def close(self) -> None: ...

    async def get(self, job_id: uuid.UUID, tenant: str) -> Mapping[str, Any] | None:
        """The job's row if it belongs to `tenant`; raise StoreUnavailable on failure."""

    async def list_jobs(self, tenant: str, where: JobFilter) -> list[Mapping[str, Any]]:
        """The tenant's rows matching `where`, newest first, at most `where.limit` of them."""

    async def slices(self, job_id: uuid.UUID, tenant: str) -> list[Mapping[str, Any]]:
        """The job's `job_slices` rows by index; none if the job is not the tenant's."""

    async def problem(self) -> str | None:
        """None when the database answers, else what is wrong (for /readyz)."""


class Sources(Protocol):
    """Reads what a source prefix holds (S3)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def inspect(self, uri: S3Uri, field: str) -> SourceInfo:
        """File count and size under `uri`; InvalidRequest naming `field` when it is empty."""

    async def problem(self) -> str | None:
        """None when S3 answers, else what is wrong (for /readyz)."""


class Keys(Protocol):
    """Idempotency-Key records shared by every API instance (see adapters/idempotency.py)."""

    async def find(self, tenant: str, key: str) -> KeyRecord | None: ...

    async def claim(
        self, tenant: str, key: str, print_: str, job_id: uuid.UUID, response: Mapping[str, Any]
    ) -> KeyRecord | None:
        """None when this request got the key, else the record of the request that did."""

    async def take_over(
        self, tenant: str, key: str, print_: str, response: Mapping[str, Any]
    ) -> bool:
        """Claim an abandoned record of the same request again; False if someone else did."""

    async def published(self, tenant: str, key: str) -> None: ...

    async def release(self, tenant: str, key: str) -> None: ...


class Stats(Protocol):
    """Aggregates over the projection (see postgres_stats.py)."""

    async def queue(self) -> list[Mapping[str, Any]]: ...

    async def queued_count(self) -> int: ...

    async def tenant_load(self, tenant: str) -> TenantLoad: ...

    async def throughput(self, window: int) -> Throughput: ...

    async def benchmark(self, tenant: str) -> list[Mapping[str, Any]]: ...
