"""The Kafka side of the compressor: its requests, one at a time, through the shared request
loop (`dicompress_infra.requests`: decode, run, commit after the terminal event).

Only a CompressionRequested is a request here: anything else on the topic is dead-lettered
with the reason, and the loop goes on.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dicompress_compressor.job import JobRunner
from dicompress_infra.metrics import ConsumerLag
from dicompress_infra.requests import JoinTracker, RequestLoop
from dicompress_schemas import CompressionRequested, DecodeError, Topics, decode_event

__all__ = ["JoinTracker", "compression_requests", "decode_request"]


def decode_request(value: bytes) -> CompressionRequested:
    """The request in a message's value; DecodeError for anything else."""
    event = decode_event(value)
    if not isinstance(event, CompressionRequested):
        raise DecodeError(f"{event.type} does not belong on the requests topic")
    return event


def _describe(request: CompressionRequested) -> dict[str, Any]:
    return {"job_id": str(request.job_id), "event_type": request.type}


def compression_requests(
    consumer: AIOKafkaConsumer,
    producer: AIOKafkaProducer,
    runner: JobRunner,
    topics: Topics,
    lag: ConsumerLag | None = None,
) -> RequestLoop[CompressionRequested]:
    """The loop that runs each request with `runner` (the consumer is subscribed already)."""
    return RequestLoop(
        consumer, producer, topics.dead_letter, decode_request, _describe, runner.run, lag
    )
