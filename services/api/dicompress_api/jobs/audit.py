"""The audit trail: a job's recorded events and commands, and its state as of a time.

`GET /jobs/{id}/events` lists every event the progress service recorded for the job, in
sequence order, with where it was read from (topic, partition, offset) and when it occurred
and was recorded, plus the commands (e.g. CancelRequested) sent about it. `GET
/jobs/{id}/state?as_of=T` folds the events that had occurred by T with the contract's fold
(`dicompress_schemas.jobs`), the one the progress service projects with, so the past state is
computed exactly as the live one was.

Another tenant's job is a 404, as in jobs.py.
"""

# No `from __future__ import annotations`: FastAPI must see the closures' real annotations.

import logging
import uuid
from datetime import datetime
from typing import Annotated, Any

import asyncpg
import orjson
from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel

from dicompress_api.adapters.database import FAILURES, Database
from dicompress_api.web.auth import TenantDependency
from dicompress_api.web.camel import CAMEL
from dicompress_api.web.errors import JobNotFound, StoreUnavailable
from dicompress_api.web.problems import PROBLEM
from dicompress_schemas import DecodeError, decode_event
from dicompress_schemas.jobs import JobView, apply

log = logging.getLogger(__name__)


_OWNED = "EXISTS (SELECT 1 FROM jobs WHERE job_id = $1 AND tenant = $2)"
_EVENTS = f"""
SELECT seq, type, event_id, occurred_at, recorded_at, topic, partition, "offset", payload
FROM job_events WHERE job_id = $1 AND {_OWNED} ORDER BY seq
"""  # noqa: S608 -- fixed text
_COMMANDS = f"""
SELECT command_id, type, requested_at, topic, partition, "offset", payload
FROM job_commands WHERE job_id = $1 AND {_OWNED} ORDER BY requested_at, command_id
"""  # noqa: S608 -- fixed text


class AuditEvent(BaseModel):
    """One recorded event and where it was read from."""

    model_config = CAMEL

    seq: int
    type: str
    event_id: uuid.UUID
    occurred_at: datetime
    recorded_at: datetime | None
    topic: str | None
    partition: int | None
    offset: int | None
    payload: dict[str, Any]


class AuditCommand(BaseModel):
    """One command sent about the job (from the control topic)."""

    model_config = CAMEL

    command_id: uuid.UUID
    type: str
    requested_at: datetime
    topic: str | None
    partition: int | None
    offset: int | None
    payload: dict[str, Any]


class AuditTrail(BaseModel):
    """A job's history as recorded."""

    model_config = CAMEL

    job_id: uuid.UUID
    events: list[AuditEvent]
    commands: list[AuditCommand]


class PastState(BaseModel):
    """The job's projected state from the events that had occurred by `as_of`."""

    model_config = CAMEL

    job_id: uuid.UUID
    as_of: datetime
    events_applied: int
    state: dict[str, Any]


class PostgresAudit:
    """Reads `job_events` and `job_commands` on the process's shared `Database`."""

    def __init__(self, database: Database, *, timeout_s: float = 10.0) -> None:
        self._database = database
        self._timeout_s = timeout_s  # a long job's trail is thousands of rows

    async def trail(self, job_id: uuid.UUID, tenant: str) -> AuditTrail | None:
        """The job's events and commands, or None if it is not this tenant's (or unknown)."""
        timeout = self._timeout_s
        try:
            async with self._database.pool().acquire() as conn:
                owned = await conn.fetchval(f"SELECT {_OWNED}", job_id, tenant, timeout=timeout)
                if not owned:
                    return None
                events = await conn.fetch(_EVENTS, job_id, tenant, timeout=timeout)
                commands = await conn.fetch(_COMMANDS, job_id, tenant, timeout=timeout)
        except FAILURES as exc:
            log.warning("audit trail unavailable", extra={"job_id": str(job_id)})
            raise StoreUnavailable(f"the job database did not answer: {exc}") from exc
        return AuditTrail(
            job_id=job_id,
            events=[AuditEvent(**_with_payload(r)) for r in events],
            commands=[AuditCommand(**_with_payload(r)) for r in commands],
        )


def audit_router(audit: PostgresAudit, tenant_of: TenantDependency) -> APIRouter:
    """Routes under /jobs/{id}: the audit trail and the state as of a time."""
    router = APIRouter(prefix="/jobs", tags=["audit"])
    Tenant = Annotated[str, Depends(tenant_of)]
    responses: dict[int | str, dict[str, Any]] = {
        code: PROBLEM for code in (401, 404, 422, 429, 503)
    }

    async def trail_of(job_id: uuid.UUID, tenant: str) -> AuditTrail:
        trail = await audit.trail(job_id, tenant)
        if trail is None:
            raise JobNotFound(f"no job {job_id} for this tenant (it may not be projected yet)")
        return trail

    @router.get("/{job_id}/events", response_model=AuditTrail, responses=responses)
    async def job_events(job_id: uuid.UUID, tenant: Tenant) -> AuditTrail:
        """Every recorded event of the job in sequence order, with offsets and timestamps."""
        return await trail_of(job_id, tenant)

    @router.get("/{job_id}/state", response_model=PastState, responses=responses)
    async def job_state(
        job_id: uuid.UUID,
        tenant: Tenant,
        as_of: Annotated[AwareDatetime, Query(description="An ISO 8601 time with its zone")],
    ) -> PastState:
        """The job as it stood at `as_of`, folded from the events that had occurred by then."""
        trail = await trail_of(job_id, tenant)
        view: JobView | None = None
        applied = 0
        for recorded in trail.events:  # in seq order: the job's own order of facts
            if recorded.occurred_at > as_of:
                continue
            try:
                view = apply(view, decode_event(recorded.payload))
            except DecodeError:  # recorded once as valid; never expected
                log.warning("undecodable recorded event", extra={"job_id": str(job_id)})
                continue
            applied += 1
        if view is None:
            raise JobNotFound(f"job {job_id} had no events yet at {as_of.isoformat()}")
        return PastState(job_id=job_id, as_of=as_of, events_applied=applied, state=_jsonable(view))

    return router


def _with_payload(row: asyncpg.Record) -> dict[str, Any]:
    values = dict(row)
    payload = values["payload"]
    values["payload"] = orjson.loads(payload) if isinstance(payload, str | bytes) else payload
    return values


def _jsonable(view: JobView) -> dict[str, Any]:
    state: dict[str, Any] = orjson.loads(orjson.dumps(view.__dict__, default=str))
    return state
