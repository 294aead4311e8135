"""deploy/k8s built with `kubectl kustomize` (or `kustomize build`), validated offline.

Kubernetes' own kinds go through kubernetes-validate's bundled schemas of Kubernetes 1.30 in
strict mode (unknown fields refused; an API version 1.30 no longer serves has no schema and
fails). Strimzi's and KEDA's kinds go through the CRD schemas kept in deploy/k8s/crd-schemas,
made strict the same way. Then what the manifests promise is read back: topics and autoscaling
that agree with the contract, env names the settings read, non-root pods with probes and
resources, a disruption budget per service, default-deny network policies, the WebSocket route.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
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
K8S = ROOT / "deploy" / "k8s"
BUILDS = ("base", "overlays/dev", "overlays/dev-hpa")
KUBERNETES_VERSION = "1.30"
NAMESPACE = "dicompress"
CRD_SCHEMAS = {
    ("kafka.strimzi.io/v1", "Kafka"): "kafka.strimzi.io_v1_kafka.yaml",
    ("kafka.strimzi.io/v1", "KafkaNodePool"): "kafka.strimzi.io_v1_kafkanodepool.yaml",
    ("kafka.strimzi.io/v1", "KafkaTopic"): "kafka.strimzi.io_v1_kafkatopic.yaml",
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh_v1alpha1_scaledobject.yaml",
}
SETTINGS: dict[str, type[BaseSettings]] = {
    "api": ApiSettings,
    "compressor": CompressorSettings,
    "ingest": IngestSettings,
    "products": ProductsSettings,
    "renderer": RendererSettings,
    "progress": ProgressSettings,
    "notifier": NotifierSettings,
}
WORKLOADS = {"Deployment", "StatefulSet", "Job"}
POM = {"m": "http://maven.apache.org/POM/4.0.0"}


def _kustomize_command() -> list[str] | None:
    """`kubectl kustomize`, else the standalone `kustomize build` (PATH or `go install`'s bin)."""
    if kubectl := shutil.which("kubectl"):
        return [kubectl, "kustomize"]
    gobin = Path(os.environ.get("GOBIN") or Path.home() / "go" / "bin")
    if kustomize := shutil.which("kustomize") or shutil.which("kustomize", path=str(gobin)):
        return [kustomize, "build"]
    return None


KUSTOMIZE = _kustomize_command()


Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def built() -> dict[str, list[Manifest]]:
    """Every build's objects, by build name. Without a builder the tests fail, never skip:
    `make system-tools` installs kustomize."""
    if KUSTOMIZE is None:
        pytest.fail(
            "neither kubectl nor kustomize is installed: `make system-tools` (or `go install "
            "sigs.k8s.io/kustomize/kustomize/v5@v5.5.0`) builds kustomize from the Go module proxy"
        )
    out: dict[str, list[Manifest]] = {}
    for build in BUILDS:
        result = subprocess.run(
            [*KUSTOMIZE, str(K8S / build)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"{' '.join(KUSTOMIZE)} {build}: {result.stderr}"
        out[build] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return out


def _strict(schema: Any) -> Any:
    """The schema with additionalProperties: false wherever an object lists its properties.

    This is how kubernetes-validate's strict schemas refuse a misspelt field; an object marked
    x-kubernetes-preserve-unknown-fields stays open, as the API server treats it.
    """
    schema = copy.deepcopy(schema)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    return schema


@pytest.fixture(scope="module")
def crd_validators() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    validators = {}
    for key, name in CRD_SCHEMAS.items():
        schema = _strict(yaml.safe_load((K8S / "crd-schemas" / name).read_text()))
        validators[key] = jsonschema.Draft7Validator(schema)
    return validators


def _objects(built: dict[str, list[Manifest]], kind: str, build: str = "base") -> list[Manifest]:
    return [obj for obj in built[build] if obj["kind"] == kind]


def _by_name(built: dict[str, list[Manifest]], kind: str, build: str = "base") -> dict[str, Any]:
    return {obj["metadata"]["name"]: obj for obj in _objects(built, kind, build)}


def _containers(obj: Manifest) -> Iterator[Manifest]:
    yield from obj["spec"]["template"]["spec"]["containers"]


@pytest.mark.parametrize("build", BUILDS)
def test_deploy_k8s_builtin_kinds_validate_strictly(
    built: dict[str, list[Manifest]], build: str
) -> None:
    failures = []
    for obj in built[build]:
        if (obj["apiVersion"], obj["kind"]) in CRD_SCHEMAS:
            continue
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            failures.append(f"{where}: {'.'.join(map(str, exc.path))}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            failures.append(f"{where}: {exc.message} (an API version 1.30 does not serve?)")
    assert failures == []


@pytest.mark.parametrize("build", BUILDS)
def test_deploy_k8s_custom_resources_match_their_crds(
    built: dict[str, list[Manifest]],
    build: str,
    crd_validators: dict[tuple[str, str], jsonschema.protocols.Validator],
) -> None:
    checked = 0
    failures = []
    for obj in built[build]:
        validator = crd_validators.get((obj["apiVersion"], obj["kind"]))
        if validator is None:
            continue
        checked += 1
        for error in validator.iter_errors(obj):
            path = ".".join(map(str, error.absolute_path))
            failures.append(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {error.message}")
    assert failures == []
    assert checked >= 6  # Kafka, its node pool and the four topics, at least


def test_deploy_k8s_crd_schemas_refuse_a_misspelt_field(
    crd_validators: dict[tuple[str, str], jsonschema.protocols.Validator],
) -> None:
    """The strict CRD check catches what the API server would silently prune."""
    topic = {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaTopic",
        "metadata": {"name": "t"},
        "spec": {"partition": 4, "replicas": 1},
    }
    errors = list(crd_validators[("kafka.strimzi.io/v1", "KafkaTopic")].iter_errors(topic))
    assert any("partition" in error.message for error in errors)


@pytest.mark.parametrize("build", BUILDS)
def test_deploy_k8s_everything_lives_in_the_namespace(
    built: dict[str, list[Manifest]], build: str
) -> None:
    outside = [
        f"{obj['kind']}/{obj['metadata']['name']}"
        for obj in built[build]
        if obj["kind"] != "Namespace" and obj["metadata"].get("namespace") != NAMESPACE
    ]
    assert outside == []


def test_deploy_k8s_topics_follow_the_contract(built: dict[str, list[Manifest]]) -> None:
    topics = _by_name(built, "KafkaTopic")
    assert {name: topic["spec"]["partitions"] for name, topic in topics.items()} == PARTITIONS
    for topic in topics.values():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "dicompress"
        assert topic["spec"]["config"]["retention.ms"] == -1  # the audit trail never expires
        assert topic["spec"]["replicas"] > topic["spec"]["config"]["min.insync.replicas"]
    dev = _by_name(built, "KafkaTopic", "overlays/dev")
    assert {topic["spec"]["replicas"] for topic in dev.values()} == {1}


def test_deploy_k8s_kafka_is_kraft_with_a_node_pool(built: dict[str, list[Manifest]]) -> None:
    (kafka,) = _objects(built, "Kafka")
    (pool,) = _objects(built, "KafkaNodePool")
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    assert set(pool["spec"]["roles"]) == {"controller", "broker"}
    assert "zookeeper" not in kafka["spec"]
    bootstrap = f"{kafka['metadata']['name']}-kafka-bootstrap:9092"
    (config,) = _objects(built, "ConfigMap")
    assert config["data"]["KAFKA_BOOTSTRAP_SERVERS"] == bootstrap


def test_deploy_k8s_compressor_scales_on_lag_up_to_the_partitions(
    built: dict[str, list[Manifest]],
) -> None:
    (scaled,) = _objects(built, "ScaledObject")
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == "compressor"
    # one trigger per group of the compressor (each lane's, the tasks'), on the group its
    # settings give; replicas up to the tasks' partitions (beyond, one would sit idle)
    groups = CompressorSettings().groups()
    triggers = {t["metadata"]["topic"]: t for t in spec["triggers"]}
    assert set(triggers) == set(groups)
    for topic, group in groups.items():
        assert triggers[topic]["type"] == "kafka"
        assert triggers[topic]["metadata"]["consumerGroup"] == group
    assert spec["maxReplicaCount"] == max(PARTITIONS[topic] for topic in groups)
    assert _objects(built, "HorizontalPodAutoscaler") == []


def test_deploy_k8s_hpa_fallback_replaces_keda(built: dict[str, list[Manifest]]) -> None:
    assert _objects(built, "ScaledObject", "overlays/dev-hpa") == []
    (hpa,) = _objects(built, "HorizontalPodAutoscaler", "overlays/dev-hpa")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "compressor"
    topics = CompressorSettings().groups()
    assert hpa["spec"]["maxReplicas"] == max(PARTITIONS[topic] for topic in topics)


@pytest.mark.parametrize("build", BUILDS)
def test_deploy_k8s_pods_are_non_root_probed_and_bounded(
    built: dict[str, list[Manifest]], build: str
) -> None:
    for obj in built[build]:
        if obj["kind"] not in WORKLOADS:
            continue
        pod = obj["spec"]["template"]["spec"]
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            assert "memory" in container["resources"]["limits"], where
            if obj["kind"] != "Job":
                assert "readinessProbe" in container, where
                assert "livenessProbe" in container, where


def test_deploy_k8s_service_env_names_are_settings(built: dict[str, list[Manifest]]) -> None:
    deployments = _by_name(built, "Deployment", "overlays/dev")
    (config,) = _objects(built, "ConfigMap", "overlays/dev")
    secrets = {s["metadata"]["name"]: s for s in _objects(built, "Secret", "overlays/dev")}
    for name, settings in SETTINGS.items():
        known = {field.upper() for field in settings.model_fields}
        (container,) = _containers(deployments[name])
        names = {var["name"] for var in container.get("env", [])} | set(config["data"])
        for source in container["envFrom"]:
            if "secretRef" in source:
                names |= set(secrets[source["secretRef"]["name"]]["data"])
        assert names - known == set(), f"{name} gets names its settings do not read"
        assert {"DATABASE_URL", "JWT_SECRET", "KAFKA_BOOTSTRAP_SERVERS"} <= names


def test_deploy_k8s_dev_references_only_secrets_it_has(built: dict[str, list[Manifest]]) -> None:
    build = "overlays/dev"
    have = {s["metadata"]["name"] for s in _objects(built, "Secret", build)}
    wanted = set()
    for obj in built[build]:
        if obj["kind"] not in WORKLOADS:
            continue
        for container in _containers(obj):
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    wanted.add(source["secretRef"]["name"])
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    wanted.add(ref["name"])
    assert wanted
    assert wanted <= have


def test_deploy_k8s_every_service_has_a_disruption_budget(
    built: dict[str, list[Manifest]],
) -> None:
    budgets = {
        pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        for pdb in _objects(built, "PodDisruptionBudget")
    }
    assert budgets == set(SETTINGS)


def test_deploy_k8s_network_is_default_deny(built: dict[str, list[Manifest]]) -> None:
    policies = _objects(built, "NetworkPolicy")
    assert any(
        p["spec"]["podSelector"] == {} and p["spec"]["policyTypes"] == ["Ingress"]
        and "ingress" not in p["spec"]
        for p in policies
    )  # fmt: skip
    deny_egress = [
        p for p in policies if p["spec"]["policyTypes"] == ["Egress"] and "egress" not in p["spec"]
    ]
    (selector,) = (p["spec"]["podSelector"]["matchExpressions"][0] for p in deny_egress)
    assert set(selector["values"]) == set(SETTINGS)


def test_deploy_k8s_websocket_route_keeps_sockets_open(built: dict[str, list[Manifest]]) -> None:
    ingresses = _by_name(built, "Ingress")
    notifier = ingresses["notifier"]
    (path,) = notifier["spec"]["rules"][0]["http"]["paths"]
    assert path["path"] == "/ws"
    assert path["backend"]["service"]["name"] == "notifier"
    annotations = notifier["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    hosts = {ing["spec"]["rules"][0]["host"] for ing in ingresses.values()}
    assert len(hosts) == 1  # the page, the API and the socket share an origin


def test_deploy_k8s_prometheus_may_scrape_every_service(built: dict[str, list[Manifest]]) -> None:
    policy = _by_name(built, "NetworkPolicy")["prometheus-scrapes-services"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    admitted = set(policy["spec"]["podSelector"]["matchExpressions"][0]["values"])
    for name in SETTINGS:
        assert name in admitted
        pod = _by_name(built, "Deployment")[name]["spec"]["template"]
        annotations = pod["metadata"]["annotations"]
        (container,) = pod["spec"]["containers"]
        (port,) = [p for p in container["ports"] if p["name"] == "http"]
        # the scrape port is the container's `http` port, the one the policy opens by name
        assert annotations["prometheus.io/port"] == str(port["containerPort"])
        assert annotations["prometheus.io/path"] == "/metrics"
        assert {"protocol": "TCP", "port": "http"} in rule["ports"]


def test_deploy_k8s_dev_s3_checks_signatures_with_the_services_keys(
    built: dict[str, list[Manifest]],
) -> None:
    build = "overlays/dev"
    (s3,) = _containers(_by_name(built, "Deployment", build)["s3"])
    pom = ET.parse(ROOT / "stack" / "dicompress_stack" / "s3" / "pom.xml")  # noqa: S314 (ours)
    version = pom.getroot().findtext(".//m:dependency/m:version", namespaces=POM)
    assert s3["image"] == f"andrewgaul/s3proxy:{version}"  # the version `dicompress up` runs
    env = {var["name"]: var for var in s3["env"]}
    assert env["S3PROXY_AUTHORIZATION"]["value"] == "aws-v2-or-v4"
    (secret,) = [s for s in _objects(built, "Secret", build) if "AWS_ACCESS_KEY_ID" in s["data"]]
    for name, key in (
        ("S3PROXY_IDENTITY", "AWS_ACCESS_KEY_ID"),
        ("S3PROXY_CREDENTIAL", "AWS_SECRET_ACCESS_KEY"),
    ):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == (secret["metadata"]["name"], key)
    assert env["JCLOUDS_PROVIDER"]["value"] == "filesystem-nio2"
    (config,) = _objects(built, "ConfigMap", build)
    assert config["data"]["S3_ENDPOINT_URL"] == "http://s3:9000"
    # the bucket Job runs the services' own image (and S3 client)
    (job,) = _containers(_by_name(built, "Job", build)["buckets"])
    (api,) = _containers(_by_name(built, "Deployment", build)["api"])
    assert job["image"] == api["image"]
    # every service that reads or writes objects may reach it
    policy = _by_name(built, "NetworkPolicy", build)["s3-from-services"]
    (rule,) = policy["spec"]["ingress"]
    admitted = set(rule["from"][0]["podSelector"]["matchExpressions"][0]["values"])
    assert admitted >= {"api", "compressor", "ingest", "renderer", "buckets"}
    assert "products" not in admitted  # it reads no object
    policy = _by_name(built, "NetworkPolicy", build)["postgres-from-services"]
    (rule,) = policy["spec"]["ingress"]
    admitted = set(rule["from"][0]["podSelector"]["matchExpressions"][0]["values"])
    assert "products" in admitted  # the study index
    assert "renderer" not in admitted


def _egress_ports(policies: list[Manifest], name: str) -> set[int]:
    """The ports a service's pods may open: the union over the egress policies selecting it."""
    ports: set[int] = set()
    for policy in policies:
        spec = policy["spec"]
        if "Egress" not in spec["policyTypes"]:
            continue
        (selector,) = spec["podSelector"]["matchExpressions"]
        if selector["key"] != "app.kubernetes.io/name" or name not in selector["values"]:
            continue
        for rule in spec.get("egress", []):
            ports |= {port["port"] for port in rule["ports"]}
    return ports


def test_deploy_k8s_services_reach_only_their_backends(built: dict[str, list[Manifest]]) -> None:
    dns_kafka = {53, 9092}
    postgres = {5432}
    s3 = {9000, 443}
    policies = _objects(built, "NetworkPolicy")
    assert _egress_ports(policies, "products") == dns_kafka | postgres
    assert _egress_ports(policies, "renderer") == dns_kafka | s3
    assert _egress_ports(policies, "ingest") == dns_kafka | s3
    assert _egress_ports(policies, "compressor") == dns_kafka | s3


def test_deploy_k8s_only_the_renderer_runs_the_renderer_image(
    built: dict[str, list[Manifest]],
) -> None:
    """The renderer's image is the Dockerfile's `renderer` target (vtk); the rest share one."""
    for build in BUILDS:
        deployments = _by_name(built, "Deployment", build)
        images = {name: next(_containers(deployments[name]))["image"] for name in SETTINGS}
        renderer, tag = images.pop("renderer").split(":")
        assert renderer == "dicompress-renderer"
        assert set(images.values()) == {f"dicompress:{tag}"}  # released together, one tag


def test_deploy_k8s_renderer_is_sized_like_the_compressor(
    built: dict[str, list[Manifest]],
) -> None:
    """Rendering is CPU-bound like encoding: whole cores requested, no CPU limit to throttle."""
    deployments = _by_name(built, "Deployment")
    (renderer,) = _containers(deployments["renderer"])
    (compressor,) = _containers(deployments["compressor"])
    for container in (renderer, compressor):
        assert "cpu" not in container["resources"]["limits"]
    assert renderer["resources"]["requests"]["cpu"] == compressor["resources"]["requests"]["cpu"]
