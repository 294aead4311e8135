"""Idempotency-Key records in Postgres (table `api_idempotency`, migration 0003).

A retried `POST /jobs` must find the job its first attempt created even on another API
instance or after a restart, so the record lives in the database, not in memory. Claiming a
key is one INSERT on the primary key (tenant, key): of two concurrent requests exactly one
inserts and publishes; the other reads the winner's record.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson

from dicompress_api.adapters.database import FAILURES, Database
from dicompress_api.web.errors import FieldProblem, InvalidRequest, StoreUnavailable
from dicompress_schemas import CompressionRequested

MAX_KEY = 255
# What identifies a request: the job's options with defaults filled in, not the raw JSON, so
# `{"anonymize": false}` and a body without it are the same request.
_FINGERPRINTED = (
    "source_uri",
    "target_uri",
    "compression_rate",
    "codec",
    "anonymize",
    "output_filename",
    "overwrite_existing",
    "min_psnr_db",
)

_EXPIRE = """
DELETE FROM api_idempotency
WHERE tenant = $1 AND idem_key = $2 AND created_at < now() - $3::interval
"""
_CLAIM = """
INSERT INTO api_idempotency (tenant, idem_key, fingerprint, job_id, response)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING job_id
"""
_FIND = """
SELECT fingerprint, job_id, response, published, created_at < now() - $4::interval AS abandoned
FROM api_idempotency
WHERE tenant = $1 AND idem_key = $2 AND created_at >= now() - $3::interval
"""
# A claim that stayed unpublished this long lost its request (the API died between the claim
# and the broker's ack): one retry takes it over, atomically, and publishes the promised job.
_TAKE_OVER = """
UPDATE api_idempotency SET created_at = now(), response = $4
WHERE tenant = $1 AND idem_key = $2 AND fingerprint = $3 AND NOT published
  AND created_at < now() - $5::interval
RETURNING job_id
"""
_PUBLISHED = "UPDATE api_idempotency SET published = true WHERE tenant = $1 AND idem_key = $2"
_RELEASE = "DELETE FROM api_idempotency WHERE tenant = $1 AND idem_key = $2 AND NOT published"


@dataclass(frozen=True)
class KeyRecord:
    """What the first request with a key stored: its fingerprint, job and answer."""

    fingerprint: str
    job_id: uuid.UUID
    response: dict[str, Any]
    published: bool
    # unpublished for longer than any publish can take: its request died (see _TAKE_OVER)
    abandoned: bool = False


def idempotency_key(value: str | None) -> str | None:
    """The header's key, checked: 1-255 visible ASCII characters (422 otherwise)."""
    if value is None:
        return None
    if not 0 < len(value) <= MAX_KEY or not all(33 <= ord(c) <= 126 for c in value):
        detail = f"1 to {MAX_KEY} visible ASCII characters (no spaces), e.g. a UUID"
        raise InvalidRequest([FieldProblem("Idempotency-Key", "idempotency_key", detail, "header")])
    return value


def fingerprint(event: CompressionRequested) -> str:
    """SHA-256 of the request's options (defaults filled in), stable across processes."""
    options = event.model_dump(mode="json", include=set(_FINGERPRINTED))
    return hashlib.sha256(orjson.dumps(options, option=orjson.OPT_SORT_KEYS)).hexdigest()


class PostgresKeys:
    """The `api_idempotency` table; a key is forgotten `ttl` after its first use, and an
    unpublished claim counts as abandoned after `abandoned_after`."""

    def __init__(self, database: Database, ttl: timedelta, abandoned_after: timedelta) -> None:
        self._database = database
        self._ttl = ttl
        self._abandoned_after = abandoned_after

    async def find(self, tenant: str, key: str) -> KeyRecord | None:
        """The live record of `key`, if any."""
        try:
            row = await self._database.pool().fetchrow(
                _FIND, tenant, key, self._ttl, self._abandoned_after
            )
        except FAILURES as exc:
            raise StoreUnavailable(f"the idempotency records did not answer: {exc}") from exc
        return _record(dict(row)) if row is not None else None

    async def claim(
        self, tenant: str, key: str, print_: str, job_id: uuid.UUID, response: Mapping[str, Any]
    ) -> KeyRecord | None:
        """Record `key` for this request; None when we got it, else the record that won."""
        try:
            async with self._database.pool().acquire() as conn, conn.transaction():
                # The database's clock decides expiry, so skewed API instances agree.
                await conn.execute(_EXPIRE, tenant, key, self._ttl)
                payload = orjson.dumps(response).decode()
                won = await conn.fetchval(_CLAIM, tenant, key, print_, job_id, payload)
                if won is not None:
                    return None
                row = await conn.fetchrow(_FIND, tenant, key, self._ttl, self._abandoned_after)
        except FAILURES as exc:
            raise StoreUnavailable(f"the idempotency records did not answer: {exc}") from exc
        if row is None:  # pragma: no cover - the conflicting row is live: it was just seen
            raise StoreUnavailable("the idempotency record vanished; retry")
        return _record(dict(row))

    async def take_over(
        self, tenant: str, key: str, print_: str, response: Mapping[str, Any]
    ) -> bool:
        """Take an abandoned claim of the same request over; False if another retry did first
        (or the claim was published meanwhile)."""
        payload = orjson.dumps(response).decode()
        try:
            taken = await self._database.pool().fetchval(
                _TAKE_OVER, tenant, key, print_, payload, self._abandoned_after
            )
        except FAILURES as exc:
            raise StoreUnavailable(f"the idempotency records did not answer: {exc}") from exc
        return taken is not None

    async def published(self, tenant: str, key: str) -> None:
        await self._execute(_PUBLISHED, tenant, key)

    async def release(self, tenant: str, key: str) -> None:
        """Forget a key whose job was never published, so a retry may publish it."""
        await self._execute(_RELEASE, tenant, key)

    async def _execute(self, query: str, *args: object) -> None:
        try:
            await self._database.pool().execute(query, *args)
        except FAILURES as exc:
            raise StoreUnavailable(f"the idempotency records did not answer: {exc}") from exc


def _record(row: Mapping[str, Any]) -> KeyRecord:
    response = row["response"]
    return KeyRecord(
        fingerprint=row["fingerprint"],
        job_id=row["job_id"],
        response=orjson.loads(response) if isinstance(response, str) else dict(response),
        published=row["published"],
        abandoned=bool(row["abandoned"]),
    )
