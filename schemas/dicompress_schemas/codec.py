"""One codec for every event on every topic: orjson bytes <-> the `Event` and `IngestEvent`
unions."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from dicompress_schemas.events import Event, EventBase
from dicompress_schemas.products import ProductRequested, request_key
from dicompress_schemas.studies import IngestEvent, IngestEventBase
from dicompress_schemas.upcast import upcast

T = TypeVar("T")
_adapter: TypeAdapter[Event] = TypeAdapter(Event)
_ingest_adapter: TypeAdapter[IngestEvent] = TypeAdapter(IngestEvent)


class DecodeError(ValueError):
    """A message is not a valid event; `reason` says why, for the dead-letter topic."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def encode_event(event: BaseModel) -> bytes:
    """Serialise an event as compact JSON (UTC timestamps, UUIDs as strings)."""
    return orjson.dumps(event.model_dump(mode="json"))


def event_key(event: EventBase) -> bytes:
    """Kafka key: the job id, so one job's events stay in one partition, in order; for a
    product's request, its series (`products.request_key`), so a series' products are taken
    in the order they were asked for."""
    if isinstance(event, ProductRequested):
        return request_key(event)
    return str(event.job_id).encode()


def ingest_event_key(event: IngestEventBase) -> bytes:
    """Kafka key: the ingest id, so one upload's events stay in one partition, in order."""
    return str(event.ingest_id).encode()


def decode_event(data: bytes | str | dict[str, Any]) -> Event:
    """Parse and validate one job event of any known type and version.

    Raises DecodeError for anything that is not a valid event; never anything else.
    """
    return _decode(_adapter, data)


def decode_ingest_event(data: bytes | str | dict[str, Any]) -> IngestEvent:
    """Parse and validate one ingest event; DecodeError for anything else."""
    return _decode(_ingest_adapter, data)


def _decode(adapter: TypeAdapter[T], data: bytes | str | dict[str, Any]) -> T:
    try:
        raw = data if isinstance(data, dict) else orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise DecodeError("not a JSON object")
    try:
        return adapter.validate_python(upcast(raw))
    except ValidationError as exc:
        raise DecodeError(f"not a valid event: {_summary(exc)}") from exc


def _summary(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "(root)"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
