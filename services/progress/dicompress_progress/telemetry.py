"""Prometheus metrics of the projection worker: events applied, batch sizes, consumer lag.

The agent counts each batch once the projector is done with it; nothing inside the projector
knows about Prometheus. The consumer lag is `dicompress_infra.metrics.ConsumerLag`, fed with each
finished message.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from dicompress_infra.metrics import ConsumerLag, Highwater
from dicompress_progress.handler import Message, Result

BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500)


class ProgressMetrics:
    """Events by type and outcome, batch sizes, time of the last applied event, lag."""

    def __init__(self, registry: CollectorRegistry, highwater: Highwater) -> None:
        self.events = Counter(
            "dicompress_progress_events",
            "Messages the projector finished, by event type and outcome "
            "(applied, late, duplicate, seq-taken, dead-lettered).",
            ["type", "outcome"],
            registry=registry,
        )
        self.batch_size = Histogram(
            "dicompress_progress_batch_size",
            "Messages recorded per Postgres transaction.",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.last_applied = Gauge(
            "dicompress_progress_last_applied_timestamp_seconds",
            "Unix time at which the projector last applied an event.",
            registry=registry,
        )
        self.lag = ConsumerLag(
            "dicompress_progress_consumer_lag",
            "Messages behind the high watermark, per partition this worker has consumed.",
            highwater,
        )
        registry.register(self.lag)

    def observe_batch(
        self, messages: Sequence[Message], types: Sequence[str], results: Sequence[Result]
    ) -> None:
        """Count one handled batch; `types` are the messages' event types, in order."""
        self.batch_size.observe(len(messages))
        for message, kind, result in zip(messages, types, results, strict=True):
            self.events.labels(kind, str(result)).inc()
            self.lag.done(message.topic, message.partition, message.offset)
        if any(result == "applied" for result in results):
            self.last_applied.set(time.time())
