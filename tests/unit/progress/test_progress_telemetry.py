"""`ProgressMetrics`: events by type and outcome, batch sizes, lag computed at scrape time."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from dicompress_progress.handler import Message
from dicompress_progress.store import Outcome
from dicompress_progress.telemetry import ProgressMetrics


def message(partition: int, offset: int) -> Message:
    return Message("t.events", partition, offset, b"key", b"{}")


def test_a_batch_is_counted_and_lag_follows_the_high_watermark() -> None:
    registry = CollectorRegistry()
    ends = {("t.events", 0): 10, ("t.events", 1): None}  # partition 1: end not known yet
    metrics = ProgressMetrics(registry, lambda topic, partition: ends[(topic, partition)])
    batch = [message(0, 3), message(0, 4), message(1, 7)]
    results = [Outcome.APPLIED, Outcome.DUPLICATE, "dead-lettered"]

    metrics.observe_batch(batch, ["SliceEncoded", "SliceEncoded", "unknown"], results)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(f"dicompress_progress_{name}", labels)

    assert value("events_total", type="SliceEncoded", outcome="applied") == 1
    assert value("events_total", type="SliceEncoded", outcome="duplicate") == 1
    assert value("events_total", type="unknown", outcome="dead-lettered") == 1
    assert value("batch_size_count") == 1
    assert value("batch_size_sum") == 3
    last = value("last_applied_timestamp_seconds")
    assert last is not None
    assert last > 0
    assert value("consumer_lag", topic="t.events", partition="0") == 5  # offsets 5..9 wait
    assert value("consumer_lag", topic="t.events", partition="1") is None
    ends[("t.events", 0)] = 12
    assert value("consumer_lag", topic="t.events", partition="0") == 7


def test_a_batch_with_nothing_applied_leaves_the_last_applied_time_alone() -> None:
    registry = CollectorRegistry()
    metrics = ProgressMetrics(registry, lambda topic, partition: None)
    metrics.observe_batch([message(0, 1)], ["JobStarted"], [Outcome.DUPLICATE])
    assert registry.get_sample_value("dicompress_progress_last_applied_timestamp_seconds") == 0
