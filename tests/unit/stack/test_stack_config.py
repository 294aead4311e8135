"""StackConfig, the services' environment and the `export` lines: pure functions, no I/O."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from dicompress_infra.settings import CommonSettings
from dicompress_stack.config import StackConfig, endpoints, render_exports, service_env
from dicompress_stack.postgres import database_url


def test_defaults_are_the_documented_ports() -> None:
    config = StackConfig()
    assert (config.kafka_port, config.kafka_controller_port) == (19092, 19093)
    assert (config.postgres_port, config.s3_port) == (15432, 19000)
    assert config.service_ports() == {
        "progress": 18001,
        "compressor": 18002,
        "ingest": 18030,
        "products": 18040,
        "renderer": 18050,
        "notifier": 18765,
        "api": 18000,
    }


def test_endpoints_name_every_way_in() -> None:
    assert endpoints(StackConfig()) == {
        "API_URL": "http://127.0.0.1:18000",
        "WS_URL": "ws://127.0.0.1:18765/ws",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092",
        "DATABASE_URL": "postgresql://dicompress@127.0.0.1:15432/dicompress",
        "S3_ENDPOINT_URL": "http://127.0.0.1:19000",
        "S3_BUCKET": "dicompress-data",
    }


def test_env_overrides_fields_and_the_data_dir_becomes_absolute() -> None:
    config = StackConfig.from_env(
        {"DICOMPRESS_KAFKA_PORT": "29192", "DICOMPRESS_LOG_LEVEL": "DEBUG", "HOME": "/root"},
        Path("relative/data"),
    )
    assert config.kafka_port == 29192
    assert config.log_level == "DEBUG"
    assert config.data_dir.is_absolute()
    assert config.data_dir.parts[-2:] == ("relative", "data")
    assert config.state_path == config.data_dir / "stack.json"


def test_env_data_dir_is_used_when_none_is_given() -> None:
    config = StackConfig.from_env({"DICOMPRESS_DATA_DIR": "/srv/dicompress"})
    assert config.data_dir == Path("/srv/dicompress")


def test_a_malformed_port_is_refused() -> None:
    with pytest.raises(ValidationError, match="kafka_port"):
        StackConfig.from_env({"DICOMPRESS_KAFKA_PORT": "nineteen"})


def test_service_env_builds_the_common_settings() -> None:
    config = StackConfig(postgres_port=25000, topic_prefix="dev.")
    env = service_env(config, "s3cr3t-" * 6)
    fields: dict[str, Any] = {key.lower(): value for key, value in env.items()}
    settings = CommonSettings(**fields)
    assert settings.kafka_bootstrap_servers == "127.0.0.1:19092"
    assert settings.database_url == "postgresql://dicompress@127.0.0.1:25000/dicompress"
    assert settings.topics.requests == "dev.compression.requests"
    assert settings.jwt_secret.get_secret_value() == "s3cr3t-" * 6
    assert settings.environment == "development"
    assert {env[name] for name in ("API_PORT", "NOTIFIER_PORT")} == {"18000", "18765"}
    assert env["PROGRESS_WEB_PORT"] == "18001"
    assert env["COMPRESSOR_HEALTH_PORT"] == "18002"
    assert env["LOG_LEVEL"] == "INFO"


def test_exports_survive_a_shell_round_trip() -> None:
    values = {"A": "plain", "B": "it's got spaces & 'quotes'", "C": ""}
    lines = render_exports(values).splitlines()
    assert [line.split("=", 1)[0] for line in lines] == ["export A", "export B", "export C"]
    parsed = dict(shlex.split(line)[1].split("=", 1) for line in lines)
    assert parsed == values


def test_database_url_swaps_only_the_database() -> None:
    admin = "postgresql://dicompress:pw@10.0.0.1:5432/postgres"
    assert database_url(admin, "t_abc") == "postgresql://dicompress:pw@10.0.0.1:5432/t_abc"
