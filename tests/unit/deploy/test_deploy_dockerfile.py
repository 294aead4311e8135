"""The Dockerfile read as text: no Docker engine here to build it, so check what the text decides.

Multi-stage with one pinned base, a numeric non-root user, no baked-in HEALTHCHECK (compose and
Kubernetes probe each service's own port), every package of the wheel copied into the build,
and a .dockerignore that keeps local state (virtualenv, .env files, embedded-stack data) out.
Two images: the default target without any dependency group, the `renderer` target with the
renderer's group (vtk) and the EGL libraries it renders with.
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


def _stages() -> dict[str, tuple[str, str]]:
    """Each stage's name -> (what it is FROM, its text), in the file's order."""
    parts = re.split(r"^FROM\s+", DOCKERFILE, flags=re.MULTILINE)[1:]
    stages = {}
    for part in parts:
        head, _, body = part.partition("\n")
        match = re.fullmatch(r"(\S+) AS (\S+)", head.strip())
        assert match, f"unnamed stage: FROM {head}"
        stages[match[2]] = (match[1], body)
    return stages


def _synced_groups(body: str) -> list[set[str]]:
    """The dependency groups of each `uv sync` of a stage; every one must opt out of the
    default groups (pyproject's [tool.uv] default-groups adds dev and renderer)."""
    syncs = re.findall(r"^RUN uv sync (.+)$", body, flags=re.MULTILINE)
    assert syncs
    for sync in syncs:
        assert "--frozen" in sync
        assert "--no-default-groups" in sync, sync
    return [set(re.findall(r"--group (\S+)", sync)) for sync in syncs]


def test_deploy_dockerfile_is_multi_stage_on_one_pinned_base() -> None:
    (base,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, flags=re.MULTILINE)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base)
    stages = _stages()
    seen: set[str] = set()
    for name, (parent, _) in stages.items():
        # every stage grows from the one base, directly or through an earlier stage
        assert parent == "${PYTHON_IMAGE}" or parent in seen, f"{name} is FROM {parent}"
        seen.add(name)
    assert "--from=build" in DOCKERFILE


def test_deploy_dockerfile_default_image_has_no_dependency_group() -> None:
    stages = _stages()
    default = list(stages)[-1]  # `docker build .` builds the last stage
    _, body = stages[default]
    assert "COPY --from=build " in body
    assert "vtk" not in body
    assert _synced_groups(stages["build"][1]) == [set(), set()]


def test_deploy_dockerfile_renderer_target_adds_its_group_and_egl() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "renderer" in project["dependency-groups"]
    stages = _stages()
    assert _synced_groups(stages["build-renderer"][1]) == [{"renderer"}, {"renderer"}]
    _, body = stages["renderer"]
    assert "COPY --from=build-renderer " in body
    (packages,) = re.findall(r"apt-get install (.+)$", body, flags=re.MULTILINE)
    assert {"libegl1", "libegl-mesa0", "libgl1-mesa-dri"} <= set(packages.split())
    assert "rm -rf /var/lib/apt/lists/*" in body
    assert re.search(r'^CMD \["python", "-m", "dicompress_renderer"\]$', body, re.MULTILINE)


def test_deploy_dockerfile_runs_as_a_numeric_non_root_user() -> None:
    stages = _stages()
    for target in (list(stages)[-1], "renderer"):  # the two images
        users = re.findall(r"^USER\s+(.+)$", stages[target][1], flags=re.MULTILINE)
        assert users, f"no USER in {target}: the image would run as root"
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
    assert "--no-default-groups" in DOCKERFILE  # no dev tools (nor vtk) in the default image


def test_deploy_dockerignore_keeps_local_state_out() -> None:
    assert DOCKERIGNORE[0] == "*"  # allow-list: only what is re-included below goes in
    included = {line[1:].rstrip("/") for line in DOCKERIGNORE if line.startswith("!")}
    assert included == {"pyproject.toml", "uv.lock", "schemas", "infra", "services", "stack"}
    assert {"**/.env", "**/.dicompress", "**/__pycache__"} <= set(DOCKERIGNORE)
