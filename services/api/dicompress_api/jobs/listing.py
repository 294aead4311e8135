"""`GET /jobs`: filters and an opaque keyset cursor over (requested_at, job_id), newest first.

Keyset, not offset: a job submitted while a client pages through the list never shifts the
pages it has not read yet, so no job is shown twice or skipped. A job whose request was never
projected (no requested_at) sorts as the epoch, i.e. last, and keeps that place.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from dicompress_api.jobs.answers import JobAnswer
from dicompress_api.web.errors import FieldProblem, InvalidRequest

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
JobStatus = Literal["queued", "running", "completed", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


@dataclass(frozen=True)
class Cursor:
    """Where the previous page ended: list the jobs strictly after this one."""

    requested_at: datetime
    job_id: uuid.UUID


@dataclass(frozen=True)
class JobFilter:
    """What the caller asked for; the tenant is never part of it (it comes from the token)."""

    status: str | None = None
    codec: str | None = None
    limit: int = 20
    after: Cursor | None = None


class JobPage(BaseModel):
    """One page of the caller's jobs; pass `nextCursor` back as `cursor` for the next one."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    items: list[JobAnswer]
    next_cursor: str | None = None


def encode_cursor(cursor: Cursor) -> str:
    raw = orjson.dumps({"t": cursor.requested_at.isoformat(), "j": str(cursor.job_id)})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    """The cursor a previous page gave; InvalidRequest (422 on `cursor`) for anything else."""
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        at = datetime.fromisoformat(raw["t"])
        if at.tzinfo is None:
            raise ValueError("naive time")
        return Cursor(at, uuid.UUID(raw["j"]))
    except (ValueError, TypeError, KeyError, binascii.Error, orjson.JSONDecodeError) as exc:
        problem = FieldProblem(
            field="cursor",
            rule="cursor",
            detail="not a cursor this API gave; pass `nextCursor` from a previous page, "
            "or leave it out for the first page",
            location="query",
        )
        raise InvalidRequest([problem]) from exc


def cursor_after(row: Mapping[str, Any]) -> Cursor:
    """The cursor that continues after `row` (the last row of a page)."""
    return Cursor(row.get("requested_at") or EPOCH, row["job_id"])
