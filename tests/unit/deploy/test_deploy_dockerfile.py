"""The Dockerfile read as text: no Docker engine here to build it, so check what the text decides.

Multi-stage with one pinned base, a numeric non-root user, no baked-in HEALTHCHECK (compose and
Kubernetes probe each service's own port), every package of the wheel copied into the build,
and a .dockerignore that keeps local state (virtualenv, .env files, embedded-stack data) out.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
DOCKERIGNORE = [
    line.strip()
    for line in (ROOT / ".dockerignore").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]


def _instructions(keyword: str) -> list[str]:
    return re.findall(rf"^{keyword}\s+(.+)$", DOCKERFILE, flags=re.MULTILINE)


def test_deploy_dockerfile_is_multi_stage_on_one_pinned_base() -> None:
    (base,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, flags=re.MULTILINE)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base)
    stages = _instructions("FROM")
    assert len(stages) == 2
    assert all(stage.startswith("${PYTHON_IMAGE}") for stage in stages)
    assert "--from=build" in DOCKERFILE


def test_deploy_dockerfile_runs_as_a_numeric_non_root_user() -> None:
    users = _instructions("USER")
    assert users, "no USER: the image would run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit()  # numeric, so runAsNonRoot can check it
    assert int(uid) > 0


def test_deploy_dockerfile_leaves_health_checks_to_the_orchestrator() -> None:
    assert _instructions("HEALTHCHECK") == []


def test_deploy_dockerfile_copies_every_package_of_the_wheel() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    copied = {line.split()[0] for line in _instructions("COPY") if not line.startswith("--")}
    for package in packages:
        assert package.split("/")[0] in copied, f"{package} is not copied into the build stage"
    assert "--frozen" in DOCKERFILE
    assert "--no-dev" in DOCKERFILE


def test_deploy_dockerignore_keeps_local_state_out() -> None:
    assert DOCKERIGNORE[0] == "*"  # allow-list: only what is re-included below goes in
    included = {line[1:].rstrip("/") for line in DOCKERIGNORE if line.startswith("!")}
    assert included == {"pyproject.toml", "uv.lock", "schemas", "infra", "services", "stack"}
    assert {"**/.env", "**/.dicompress", "**/__pycache__"} <= set(DOCKERIGNORE)
