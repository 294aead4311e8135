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
