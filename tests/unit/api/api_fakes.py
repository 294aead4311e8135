"""Fakes of the API's two adapters, for pure-validation unit tests (no broker, no database)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from dicompress_api.errors import PublishUnavailable, StoreUnavailable
from dicompress_schemas import CompressionRequested

SECRET = "unit-test-secret-0123456789abcdef0123"


class FakePublisher:
    def __init__(self) -> None:
        self.events: list[CompressionRequested] = []
        self.unavailable: str | None = None

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, event: CompressionRequested) -> None:
        if self.unavailable:
            raise PublishUnavailable(self.unavailable)
        self.events.append(event)

    async def problem(self) -> str | None:
        return self.unavailable


class FakeStore:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, dict[str, Any]] = {}
        self.down: str | None = None

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def get(self, job_id: uuid.UUID, tenant: str) -> Mapping[str, Any] | None:
        if self.down:
            raise StoreUnavailable(self.down)
        row = self.rows.get(job_id)
        return row if row is not None and row["tenant"] == tenant else None

    async def problem(self) -> str | None:
        return self.down
