"""Prometheus metrics of the notifier: connections, subscriptions, frames, relays, slow clients.

Counters are bumped where the thing happens (a frame written, a slow client closed); the
subscription count and the relayed events are read off the hub at scrape time, so the hub
stays free of Prometheus.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from dicompress_notifier.catchup import CatchUp
from dicompress_notifier.hub import Hub


class NotifierMetrics:
    """What a notifier process exports; build one per process with its own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.connections = Gauge(
            "dicompress_notifier_connections",
            "Open (authenticated) WebSocket connections.",
            registry=registry,
        )
        self.frames_sent = Counter(
            "dicompress_notifier_frames_sent", "Frames written to clients.", registry=registry
        )
        self.slow_disconnects = Counter(
            "dicompress_notifier_slow_client_disconnects",
            "Connections closed with 1013 because the client fell behind.",
            registry=registry,
        )
        self.coalesced = Counter(
            "dicompress_notifier_slice_frames_coalesced",
            "SliceEncoded frames of lagging clients folded into progress frames.",
            registry=registry,
        )
        self.cancels = Counter(
            "dicompress_notifier_cancels_requested",
            "CancelRequested commands published for clients.",
            registry=registry,
        )
        self._registry = registry

    def watch(self, hub: Hub, catch_up: CatchUp | None = None) -> None:
        """Export the hub's subscription count and relayed events, and the catch-up reads
        of Postgres (read at scrape time)."""
        self._registry.register(_HubCollector(hub, catch_up))


class _HubCollector(Collector):
    def __init__(self, hub: Hub, catch_up: CatchUp | None) -> None:
        self._hub = hub
        self._catch_up = catch_up

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "dicompress_notifier_subscriptions",
            "Live job subscriptions over all connections.",
            value=self._hub.listener_count(),
        )
        yield CounterMetricFamily(
            "dicompress_notifier_events_relayed",
            "Job events taken from Kafka and handed to the hub.",
            value=self._hub.published,
        )
        yield CounterMetricFamily(
            "dicompress_notifier_changes_skipped",
            "Projection notifications the live stream had already covered (nobody woken).",
            value=self._hub.changes_skipped,
        )
        yield CounterMetricFamily(
            "dicompress_notifier_events_filled",
            "Job events found by catch-up reads of Postgres that the live stream lacked.",
            value=self._hub.filled,
        )
        if self._catch_up is not None:
            yield CounterMetricFamily(
                "dicompress_notifier_catchup_requests",
                "Subscriptions that lagged behind Postgres and asked to catch up.",
                value=self._catch_up.requests,
            )
            yield CounterMetricFamily(
                "dicompress_notifier_catchup_reads",
                "Postgres reads those catch-ups took (one per job at a time, shared).",
                value=self._catch_up.reads,
            )
