"""`Canceller`: puts a client's CancelRequested on the control topic, as the API does.

The same command, key and header as `POST /jobs/{id}/cancel`, so the compressors and the
progress worker cannot tell who sent it. A cancel that the broker does not acknowledge in time
is reported to the client, who may send it again: a second CancelRequested is harmless (the
compressor stops a job once, and the audit trail records both).
"""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from dicompress_infra.kafka import publish_command
from dicompress_notifier.errors import NotifierError
from dicompress_schemas.commands import CancelRequested


class CommandUnavailable(NotifierError):
    """The broker did not take the command; the message says why."""


class Canceller:
    """Publishes CancelRequested with an acks=all producer started by the composition root."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, timeout_s: float) -> None:
        self._producer = producer
        self._topic = topic
        self._timeout_s = timeout_s

    async def cancel(
        self, job_id: uuid.UUID, tenant: str, reason: str | None = None
    ) -> CancelRequested:
        """Publish the command and wait for the broker's ack; raises CommandUnavailable."""
        command = (
            CancelRequested(job_id=job_id, tenant=tenant)
            if reason is None
            else CancelRequested(job_id=job_id, tenant=tenant, reason=reason)
        )
        try:
            async with asyncio.timeout(self._timeout_s):
                await publish_command(self._producer, self._topic, command)
        except TimeoutError as exc:
            raise CommandUnavailable(
                f"Kafka did not acknowledge the cancel within {self._timeout_s:g} s; try again"
            ) from exc
        except KafkaError as exc:
            raise CommandUnavailable(f"Kafka refused the cancel: {exc}; try again") from exc
        return command
