"""The Kafka side of the renderer: product requests, one at a time, through the shared request
loop (`dicompress_infra.requests`: decode, run, commit after the terminal event).

Only a ProductRequested of kind thumbnails or snapshot is a request here (previews go to the
compressor): anything else on the topic is dead-lettered with the reason, and the loop goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dicompress_infra.requests import RequestLoop
from dicompress_schemas import DecodeError, ProductRequested, Topics, decode_event
from dicompress_schemas.products import ProductKind

Handle = Callable[[ProductRequested], Coroutine[Any, Any, object]]
RENDERED_KINDS = frozenset({ProductKind.THUMBNAILS, ProductKind.SNAPSHOT})


def decode_request(value: bytes) -> ProductRequested:
    """The thumbnails or snapshot request in a message's value; DecodeError for anything else."""
    event = decode_event(value)
    if not isinstance(event, ProductRequested):
        raise DecodeError(f"{event.type} is not a product request")
    if event.kind not in RENDERED_KINDS:
        raise DecodeError(f"a {event.kind.value} product is not made by the renderer")
    return event


def _describe(request: ProductRequested) -> dict[str, Any]:
    return {"job_id": str(request.job_id), "tenant": request.tenant, "kind": request.kind.value}


def render_requests(
    consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, handle: Handle, topics: Topics
) -> RequestLoop[ProductRequested]:
    """The loop that makes each product with `handle` (the consumer is subscribed already)."""
    return RequestLoop(consumer, producer, topics.dead_letter, decode_request, _describe, handle)
