"""deploy/observability: the alert rules parse, and every metric the rules and the Grafana
dashboard name is one the services export (read off their metrics classes, not a list)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from dicompress_api.web.metrics import ApiMetrics
from dicompress_compressor.telemetry import CompressorMetrics
from dicompress_infra.metrics import new_registry
from dicompress_notifier.history import JobHistory
from dicompress_notifier.hub import Hub
from dicompress_notifier.telemetry import NotifierMetrics
from dicompress_progress.telemetry import ProgressMetrics

OBSERVABILITY = Path(__file__).parents[3] / "deploy" / "observability"
# Metric-looking names in PromQL: ours and the process collector's.
METRIC = re.compile(r"\b(?:dicompress|process)_[a-z0-9_]+\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}


def exported() -> set[str]:
    """Every series name a scrape of any of the four services can show."""
    registry = new_registry()
    ApiMetrics(registry)
    CompressorMetrics(registry, lambda topic, partition: None)
    ProgressMetrics(registry, lambda topic, partition: None)
    NotifierMetrics(registry).watch(Hub(JobHistory(window_s=60, max_jobs=10)))
    return names_in(registry)


def names_in(registry: CollectorRegistry) -> set[str]:
    names = set()
    for family in registry.collect():
        names.update(family.name + s for s in SUFFIXES.get(family.type, ("",)))
    return names


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((OBSERVABILITY / "alerts.yaml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_every_rule_is_complete_and_names_only_exported_metrics() -> None:
    known = exported()
    alerts = rules()
    assert {"DicompressApiErrorRate", "DicompressStuckJobs", "DicompressConsumerLagGrowing"} <= {
        rule["alert"] for rule in alerts
    }
    for rule in alerts:
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        named = set(METRIC.findall(rule["expr"]))
        assert named, f"{rule['alert']} names no dicompress metric"
        assert named <= known, f"{rule['alert']} names unexported {named - known}"
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]


def test_every_dashboard_query_names_only_exported_metrics() -> None:
    known = exported()
    exprs = dashboard_exprs()
    named = {name for expr in exprs for name in METRIC.findall(expr)}
    assert named <= known, f"the dashboard names unexported {named - known}"
    # the list: jobs by state, slices/s, encode time, lag, connections, HTTP latency
    for needed in (
        "dicompress_compressor_jobs_in_flight",
        "dicompress_compressor_slices_encoded_total",
        "dicompress_compressor_encode_ms_bucket",
        "dicompress_progress_consumer_lag",
        "dicompress_notifier_connections",
        "dicompress_api_request_duration_seconds_bucket",
    ):
        assert needed in named, needed


def test_the_check_itself_catches_a_misspelt_metric() -> None:
    assert "dicompress_compressor_slices_encoded" not in exported()  # counters end in _total
    assert "dicompress_compressor_slices_encoded_total" in exported()
