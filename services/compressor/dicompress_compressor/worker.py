"""The Kafka side of the compressor: its requests, one at a time, through the shared request
loop (`dicompress_infra.requests`: decode, run, commit after the terminal event).

Two requests belong here: a CompressionRequested, and a ProductRequested for a preview or a
Mini CT (the compressor makes the DICOM products: `dicompress_schemas.products.request_topic`).
Anything else on the topic, a thumbnails or snapshot request included, is dead-lettered with the
reason, and the loop goes on. The same loop, on a tasks topic, runs the slice ranges of jobs
spread over the group (`slice_tasks`; `split`, `task_runner`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dicompress_compressor.job import JobRunner
from dicompress_compressor.minict.runner import MiniCtRunner
from dicompress_compressor.preview.runner import PreviewRunner
from dicompress_compressor.task_runner import TaskRunner
from dicompress_infra.metrics import ConsumerLag
from dicompress_infra.requests import JoinTracker, RequestLoop
from dicompress_schemas import (
    CompressionRequested,
    DecodeError,
    ProductRequested,
    TerminalEvent,
    Topics,
    decode_event,
)
from dicompress_schemas.products import COMPRESSOR_PRODUCTS, ProductKind
from dicompress_schemas.tasks import SliceRangeRequested, decode_task

__all__ = [
    "JoinTracker",
    "Request",
    "Runners",
    "compression_requests",
    "decode_request",
    "slice_tasks",
]

Request = CompressionRequested | ProductRequested


def decode_request(value: bytes) -> Request:
    """The request in a message's value; DecodeError for anything else."""
    event = decode_event(value)
    if isinstance(event, ProductRequested):
        if event.kind not in COMPRESSOR_PRODUCTS:
            raise DecodeError(
                f"a {event.kind.value} ProductRequested belongs on the render requests topic, "
                "not the compressor's"
            )
        return event
    if not isinstance(event, CompressionRequested):
        raise DecodeError(f"{event.type} does not belong on the requests topic")
    return event


@dataclass(frozen=True)
class Runners:
    """Each request to its runner: compressions to the job runner, previews and Mini CTs to
    theirs."""

    compression: JobRunner
    preview: PreviewRunner
    mini_ct: MiniCtRunner

    async def run(self, request: Request) -> TerminalEvent:
        if isinstance(request, ProductRequested):
            if request.kind is ProductKind.MINI_CT:
                return await self.mini_ct.run(request)
            return await self.preview.run(request)
        return await self.compression.run(request)

    def anticipate(self, request: Request) -> None:
        """The request likely to run next: a compression's source is laid out ahead."""
        if isinstance(request, CompressionRequested):
            self.compression.anticipate(request)


def _describe(request: Request) -> dict[str, Any]:
    return {"job_id": str(request.job_id), "event_type": request.type}


def _describe_task(task: SliceRangeRequested) -> dict[str, Any]:
    first = task.slices[0].index
    return {"job_id": str(task.job_id), "event_type": task.type, "first": first}


def slice_tasks(
    consumer: AIOKafkaConsumer,
    producer: AIOKafkaProducer,
    runner: TaskRunner,
    topics: Topics,
    lag: ConsumerLag | None = None,
) -> RequestLoop[SliceRangeRequested]:
    """The loop that runs the slice-range tasks of spread jobs, one at a time."""
    return RequestLoop(
        consumer, producer, topics.dead_letter, decode_task, _describe_task, runner.run, lag
    )


def compression_requests(
    consumer: AIOKafkaConsumer,
    producer: AIOKafkaProducer,
    runners: Runners,
    topics: Topics,
    lag: ConsumerLag | None = None,
) -> RequestLoop[Request]:
    """The loop that runs each request with its runner (the consumer is subscribed already)."""
    return RequestLoop(
        consumer,
        producer,
        topics.dead_letter,
        decode_request,
        _describe,
        runners.run,
        lag,
        anticipate=runners.anticipate,
    )
