"""`CompressorMetrics`: the compressor's Prometheus figures, read off the events it emits."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from dicompress_compressor.telemetry import CompressorMetrics
from dicompress_schemas import EventBase
from dicompress_schemas.histories import JobHistory


async def test_emitted_events_are_counted_after_the_broker_took_them() -> None:
    registry = CollectorRegistry()
    metrics = CompressorMetrics(registry, lambda topic, partition: None)
    sent: list[EventBase] = []

    async def emit(event: EventBase) -> None:
        sent.append(event)

    counting = metrics.counting(emit)
    one, two = JobHistory(total=3), JobHistory()
    failed = one.slice_failed(2)
    for event in (one.started(), one.encoded(0), one.encoded(1), failed):
        await counting(event)
    await counting(two.started())
    assert registry.get_sample_value("dicompress_compressor_jobs_in_flight") == 2
    await counting(one.completed())

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(f"dicompress_compressor_{name}", labels)

    assert len(sent) == 6
    assert value("jobs_in_flight") == 1
    assert value("jobs_started_total") == 2
    assert value("slices_encoded_total") == 2
    assert value("encode_ms_count") == 2
    assert value("slices_failed_total", error_code=failed.error_code) == 1
    assert value("jobs_finished_total", outcome="completed") == 1


async def test_a_job_failing_before_it_started_leaves_nothing_in_flight() -> None:
    registry = CollectorRegistry()
    metrics = CompressorMetrics(registry, lambda topic, partition: None)
    metrics.observe(JobHistory().failed(seq=1))
    metrics.observe(JobHistory().cancelled(seq=1))
    assert registry.get_sample_value("dicompress_compressor_jobs_in_flight") == 0
    finished = "dicompress_compressor_jobs_finished_total"
    assert registry.get_sample_value(finished, {"outcome": "failed"}) == 1
    assert registry.get_sample_value(finished, {"outcome": "cancelled"}) == 1
