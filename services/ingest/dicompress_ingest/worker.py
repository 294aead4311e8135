"""The Kafka side of the ingest service: uploads, one at a time, through the shared request
loop (`dicompress_infra.requests`: decode, run, commit after the terminal event).

Only an ArchiveUploaded is a request here: anything else on the topic is dead-lettered with the
reason, and the loop goes on. A re-run after a crash emits the same event ids and finds its
objects already stored.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dicompress_infra.requests import RequestLoop
from dicompress_schemas import ArchiveUploaded, DecodeError, Topics, decode_ingest_event

Handle = Callable[[ArchiveUploaded], Coroutine[Any, Any, object]]


def decode_upload(value: bytes) -> ArchiveUploaded:
    """The upload in a message's value; DecodeError for anything else."""
    event = decode_ingest_event(value)
    if not isinstance(event, ArchiveUploaded):
        raise DecodeError(f"{event.type} is not an upload")
    return event


def _describe(request: ArchiveUploaded) -> dict[str, Any]:
    return {"ingest_id": str(request.ingest_id), "tenant": request.tenant}


def uploads(
    consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, handle: Handle, topics: Topics
) -> RequestLoop[ArchiveUploaded]:
    """The loop that ingests each upload with `handle` (the consumer is subscribed already)."""
    return RequestLoop(consumer, producer, topics.dead_letter, decode_upload, _describe, handle)
