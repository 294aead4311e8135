"""Prometheus plumbing shared by every service: a registry per process and its text exposition.

Each service builds its own `CollectorRegistry` in its composition root (never the global
default one), so tests that run several services or apps in one interpreter never see one
another's samples nor trip over "duplicated timeseries" errors. The registry carries the
standard process metrics (CPU, memory, open files) and the Python platform info.
`ConsumerLag` gives a Kafka consumer's lag per partition, computed at scrape time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

METRICS_PATH = "/metrics"
CONTENT_TYPE = CONTENT_TYPE_LATEST


def new_registry() -> CollectorRegistry:
    """A fresh registry with the process and platform collectors already registered."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """Every sample of `registry` in the Prometheus text format (serve it as `CONTENT_TYPE`)."""
    return generate_latest(registry)


# (topic, partition) -> the offset after the partition's last message, or None when unknown
Highwater = Callable[[str, int], int | None]


class ConsumerLag(Collector):
    """`name{topic,partition}`: how many messages wait past the last one this process is done
    with, per partition it has finished a message on.

    Cheap and local: the high watermark is the one the consumer last fetched (`highwater`), no
    request to the broker per scrape. A partition now owned by another member answers None
    from `highwater` and is left out. Register it: `registry.register(lag)`.
    """

    def __init__(self, name: str, documentation: str, highwater: Highwater) -> None:
        self._name = name
        self._documentation = documentation
        self._highwater = highwater
        self._next: dict[tuple[str, int], int] = {}

    def done(self, topic: str, partition: int, offset: int) -> None:
        """The message at `offset` is finished with (recorded, committed, dead-lettered)."""
        where = (topic, partition)
        self._next[where] = max(self._next.get(where, 0), offset + 1)

    def describe(self) -> list[GaugeMetricFamily]:
        return [self._family()]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        for (topic, partition), next_offset in sorted(self._next.items()):
            end = self._highwater(topic, partition)
            if end is not None:
                family.add_metric([topic, str(partition)], max(end - next_offset, 0))
        yield family

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(self._name, self._documentation, labels=["topic", "partition"])
