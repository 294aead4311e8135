"""Fakes of the API's two adapters, for pure-validation unit tests (no broker, no database)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from dicompress_api.errors import PublishUnavailable, StoreUnavailable
from dicompress_api.listing import EPOCH, JobFilter
from dicompress_schemas import CompressionRequested
from dicompress_schemas.commands import Command

SECRET = "unit-test-secret-0123456789abcdef0123"


class FakePublisher:
    def __init__(self) -> None:
        self.events: list[CompressionRequested] = []
        self.commands: list[Command] = []
        self.unavailable: str | None = None

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, event: CompressionRequested) -> None:
        if self.unavailable:
            raise PublishUnavailable(self.unavailable)
        self.events.append(event)

    async def send_command(self, command: Command) -> None:
        if self.unavailable:
            raise PublishUnavailable(self.unavailable)
        self.commands.append(command)

    async def problem(self) -> str | None:
        return self.unavailable


class FakeStore:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, dict[str, Any]] = {}
        self.slice_rows: dict[uuid.UUID, list[dict[str, Any]]] = {}
        self.down: str | None = None

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def get(self, job_id: uuid.UUID, tenant: str) -> Mapping[str, Any] | None:
        if self.down:
            raise StoreUnavailable(self.down)
        row = self.rows.get(job_id)
        return row if row is not None and row["tenant"] == tenant else None

    async def list_jobs(self, tenant: str, where: JobFilter) -> list[Mapping[str, Any]]:
        def key(row: Mapping[str, Any]) -> tuple[Any, uuid.UUID]:
            return (row.get("requested_at") or EPOCH, row["job_id"])

        rows = [
            row
            for row in self.rows.values()
            if row["tenant"] == tenant
            and where.status in (None, row.get("status"))
            and where.codec in (None, row.get("codec"))
            and (where.after is None or key(row) < (where.after.requested_at, where.after.job_id))
        ]
        return sorted(rows, key=key, reverse=True)[: where.limit]

    async def slices(self, job_id: uuid.UUID, tenant: str) -> list[Mapping[str, Any]]:
        owned = await self.get(job_id, tenant)
        return list(self.slice_rows.get(job_id, [])) if owned else []

    async def problem(self) -> str | None:
        return self.down
