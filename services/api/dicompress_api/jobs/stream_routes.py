"""`GET /jobs/{id}/stream`: the route of a job's Server-Sent Events (the body is `stream`)."""

# No `from __future__ import annotations`: FastAPI must see the closures' real annotations.

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Query
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dicompress_api.adapters.database import Database
from dicompress_api.jobs.changes import ChangeListener
from dicompress_api.jobs.event_log import JobEventLog
from dicompress_api.jobs.stream import MEDIA_TYPE, EventStream
from dicompress_api.web.access_log import redact_tokens_in_access_log
from dicompress_api.web.auth import TenantDependency, verified_tenant
from dicompress_api.web.errors import JobNotFound, Unauthenticated
from dicompress_api.web.problems import PROBLEM
from dicompress_infra.auth import TokenVerifier
from dicompress_schemas.envelope import SEQ_MAX


def stream_router(
    dsn: str,
    database: Database,
    verifier: TokenVerifier,
    *,
    channel: str,
    heartbeat_s: float = 15.0,
    retry_ms: int = 3000,
    gap_grace_s: float = 10.0,
    limit: Callable[[TenantDependency], TenantDependency] | None = None,
) -> APIRouter:
    """`GET /jobs/{id}/stream`. Its lifespan runs the process's change listener on `dsn`,
    LISTENing on `channel` (the setting `CHANGE_FEED_CHANNEL`).

    `limit` wraps the tenant dependency like the other routes' (e.g. the per-tenant rate limit).
    """
    redact_tokens_in_access_log()  # the token may come in the URL (EventSource)
    listener = ChangeListener(dsn, channel=channel)
    events_log = JobEventLog(database)
    streams = EventStream(
        events_log,
        listener,
        heartbeat_s=heartbeat_s,
        retry_ms=retry_ms,
        gap_grace_s=gap_grace_s,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await database.start()  # no-op when the app already started it
        await listener.start()
        try:
            yield
        finally:
            await listener.close()

    router = APIRouter(prefix="/jobs", tags=["progress"], lifespan=lifespan)
    stream_tenant = _stream_tenant(verifier)

    caller = limit(stream_tenant) if limit is not None else stream_tenant

    @router.get("/{job_id}/stream", response_class=StreamingResponse, responses=_RESPONSES)
    async def job_stream(
        job_id: uuid.UUID,
        tenant: Annotated[str, Depends(caller)],
        last_event_id: Annotated[
            int | None,
            Header(
                alias="Last-Event-ID",
                ge=0,
                le=SEQ_MAX,
                description="Resume after this seq (EventSource sends it on reconnection)",
            ),
        ] = None,
        since_seq: Annotated[
            int | None,
            Query(ge=0, le=SEQ_MAX, description="Resume after this seq (Last-Event-ID wins)"),
        ] = None,
    ) -> StreamingResponse:
        """The job's events in sequence order, live, as `text/event-stream`; after the terminal
        event (or at once, when resumed at or after it) a last message `event: end`, on which
        an EventSource should be closed. Resume with `Last-Event-ID` or `since_seq`."""
        if await events_log.owner(job_id) != tenant:
            raise JobNotFound(f"no job {job_id} for this tenant (it may not be projected yet)")
        after = last_event_id if last_event_id is not None else since_seq
        return StreamingResponse(
            streams.body(job_id, -1 if after is None else after),
            media_type=MEDIA_TYPE,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The job's events as Server-Sent Events, until its terminal event, "
        "then a last message `event: end` (close the EventSource on it)",
        "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
    },
    **{status: PROBLEM for status in (401, 404, 422, 503)},
}
_BEARER = HTTPBearer(auto_error=False, description="JWT with a 'tenant' claim (or ?access_token=)")


def _stream_tenant(verifier: TokenVerifier) -> TenantDependency:
    """The tenant of the bearer token, from the header or, for EventSource (which cannot send
    headers), from `?access_token=`."""

    async def stream_tenant(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
        access_token: Annotated[
            str | None,
            Query(
                description="The bearer token, for EventSource (which cannot send headers); "
                "prefer the Authorization header where the client can set it"
            ),
        ] = None,
    ) -> str:
        token = credentials.credentials if credentials is not None else access_token
        if not token:
            raise Unauthenticated("missing bearer token", invalid=False)
        return await verified_tenant(verifier, token)

    return stream_tenant
