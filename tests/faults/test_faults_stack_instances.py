"""The embedded stack's scale-out setting: DICOMPRESS_COMPRESSORS=N gives N compressor
processes, each on its own health port, started after progress and before notifier and api."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dicompress_stack.config import StackConfig
from dicompress_stack.services import service_instances


def test_one_compressor_by_default_on_the_documented_port() -> None:
    instances = service_instances(StackConfig())
    assert [(i.name, i.port) for i in instances] == [
        ("progress", 18001),
        ("compressor", 18002),
        ("ingest", 18030),
        ("products", 18040),
        ("renderer", 18050),
        ("notifier", 18765),
        ("api", 18000),
    ]


def test_n_compressors_from_the_environment_each_on_its_own_port() -> None:
    config = StackConfig.from_env(
        {"DICOMPRESS_COMPRESSORS": "3", "DICOMPRESS_COMPRESSOR_HEALTH_PORT": "28002"}
    )
    compressors = [i for i in service_instances(config) if i.spec.name == "compressor"]
    assert [(i.name, i.port) for i in compressors] == [
        ("compressor", 28002),
        ("compressor-2", 28003),
        ("compressor-3", 28004),
    ]
    assert compressors[2].env({"A": "b"}) == {"A": "b", "COMPRESSOR_HEALTH_PORT": "28004"}
    assert compressors[1].health_url == "http://127.0.0.1:28003/healthz"
    assert config.service_ports()["compressor-3"] == 28004


def test_sixteen_compressors_leave_the_ingest_port_alone() -> None:
    ports = StackConfig.from_env({"DICOMPRESS_COMPRESSORS": "16"}).service_ports()
    assert len(set(ports.values())) == len(ports)


def test_zero_compressors_is_refused() -> None:
    with pytest.raises(ValidationError, match="compressors"):
        StackConfig.from_env({"DICOMPRESS_COMPRESSORS": "0"})
