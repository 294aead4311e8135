"""Compressor settings: the environment names and the derived defaults."""

from __future__ import annotations

import os

import pytest

from dicompress_compressor.settings import CompressorSettings


def test_defaults() -> None:
    settings = CompressorSettings(compressor_processes=3)
    assert settings.compressor_group_id == "dicompress-compressor"
    assert settings.compressor_health_port == 18002
    assert settings.max_in_flight == 6  # two per process
    assert settings.compressor_worker_id.endswith(f"-{os.getpid()}")
    assert CompressorSettings().compressor_processes == (os.cpu_count() or 1)


def test_environment_names_have_no_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPRESSOR_PROCESSES", "1")
    monkeypatch.setenv("COMPRESSOR_MAX_IN_FLIGHT", "5")
    monkeypatch.setenv("TOPIC_PREFIX", "t1.")
    settings = CompressorSettings()
    assert (settings.compressor_processes, settings.max_in_flight) == (1, 5)
    assert settings.topics.requests == "t1.compression.requests"


def test_nonsense_is_refused() -> None:
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        CompressorSettings(compressor_processes=0)


def test_allowed_buckets_default_like_the_apis_and_parse_like_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert CompressorSettings().compressor_allowed_buckets == ["dicompress-data"]
    monkeypatch.setenv("COMPRESSOR_ALLOWED_BUCKETS", "a-data, b-data")
    assert CompressorSettings().compressor_allowed_buckets == ["a-data", "b-data"]
    monkeypatch.setenv("COMPRESSOR_ALLOWED_BUCKETS", '["c-data"]')
    assert CompressorSettings().compressor_allowed_buckets == ["c-data"]


def test_a_part_below_s3s_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="greater than or equal to 5242880"):
        CompressorSettings(compressor_part_size=1024)
