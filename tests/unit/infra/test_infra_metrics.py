"""`dicompress_infra.metrics`: a registry per process and its text exposition."""

from __future__ import annotations

from prometheus_client import Counter
from prometheus_client.parser import text_string_to_metric_families

from dicompress_infra.metrics import CONTENT_TYPE, ConsumerLag, exposition, new_registry


def test_a_new_registry_exposes_process_metrics_in_the_text_format() -> None:
    text = exposition(new_registry()).decode()
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"process_cpu_seconds", "process_resident_memory_bytes", "python_info"} <= names
    assert CONTENT_TYPE.startswith("text/plain; version=")


def test_registries_are_independent_so_services_and_tests_never_collide() -> None:
    first, second = new_registry(), new_registry()
    Counter("dicompress_demo", "A demo counter.", registry=first).inc(3)
    Counter("dicompress_demo", "The same name elsewhere is fine.", registry=second)
    assert first.get_sample_value("dicompress_demo_total") == 3
    assert second.get_sample_value("dicompress_demo_total") == 0
    assert b"dicompress_demo_total 3.0" in exposition(first)


def test_consumer_lag_is_the_high_watermark_past_the_last_message_done() -> None:
    ends: dict[tuple[str, int], int | None] = {("requests", 0): 10, ("requests", 1): None}
    lag = ConsumerLag("dicompress_demo_lag", "Demo lag.", lambda t, p: ends[(t, p)])
    registry = new_registry()
    registry.register(lag)

    def value(partition: int) -> float | None:
        labels = {"topic": "requests", "partition": str(partition)}
        return registry.get_sample_value("dicompress_demo_lag", labels)

    assert value(0) is None  # nothing done on it yet: no series
    lag.done("requests", 0, 6)
    lag.done("requests", 0, 4)  # a redelivery of an older one never moves it back
    lag.done("requests", 1, 2)
    assert value(0) == 3  # offsets 7, 8, 9 wait
    assert value(1) is None  # end unknown (e.g. the partition moved to another member)
    ends[("requests", 0)] = 20
    assert value(0) == 13  # read at scrape time
