"""The deploy files parse and are complete: every service, its replicas, probes and config."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.cli.catalog import SERVICES

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def manifests() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    return [
        doc
        for name in kustomization["resources"]
        for doc in yaml.safe_load_all((DEPLOY / "k8s" / name).read_text())
        if doc
    ]


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in manifests() if doc["kind"] == kind}


def vigil_services() -> dict[str, dict[str, Any]]:
    """Compose services running the vigil image, by the service their command serves."""
    return {
        spec["command"][1]: spec
        for spec in compose()["services"].values()
        if spec.get("command", [""])[0] == "serve"
    }


def is_runnable(service: str) -> bool:
    if service in SERVICES:
        return True
    return hasattr(importlib.import_module(f"services.{service}.app"), "create_app")


def test_compose_runs_every_service_of_the_catalog_and_nothing_else() -> None:
    deployed = vigil_services()
    assert set(SERVICES) <= set(deployed)
    assert all(is_runnable(service) for service in deployed)


@pytest.mark.parametrize("service", sorted(vigil_services()))
def test_each_compose_service_has_replicas_probe_env_and_image(service: str) -> None:
    spec = vigil_services()[service]
    assert spec["image"].startswith("vigil:")
    assert (DEPLOY.parent / spec["build"]["dockerfile"]).is_file()
    assert spec["deploy"]["replicas"] >= 1
    assert "/ready" in " ".join(spec["healthcheck"]["test"])
    env = spec["environment"]
    assert env["VIGIL_NATS_URL"].startswith("nats://")
    assert env["VIGIL_DATABASE_URL"].startswith("postgresql://")
    assert env["VIGIL_STREAM_REPLICAS"] == "3"
    assert spec["command"] == ["serve", service, "--host", "0.0.0.0", "--port", "8000"]
    assert set(spec["depends_on"]) <= set(compose()["services"])


def test_compose_runs_a_three_node_nats_cluster_from_the_shared_config() -> None:
    services = compose()["services"]
    nodes = [name for name, spec in services.items() if spec.get("image", "").startswith("nats")]
    assert sorted(nodes) == ["nats-1", "nats-2", "nats-3"]
    for name in nodes:
        env = services[name]["environment"]
        assert env["NATS_SERVER_NAME"] == name
        assert {env[f"NATS_ROUTE_{i}"] for i in (1, 2, 3)} == {
            f"nats-route://{node}:6222" for node in nodes
        }
        assert "./nats/cluster.conf:/etc/nats/cluster.conf:ro" in services[name]["volumes"]
        assert services[name]["healthcheck"]["test"]


def test_the_cluster_config_names_every_variable_compose_and_kubernetes_set() -> None:
    conf = (DEPLOY / "nats" / "cluster.conf").read_text()
    used = set(re.findall(r"\$(NATS_[A-Z0-9_]+)", conf))
    compose_env = set(compose()["services"]["nats-1"]["environment"])
    nats = of_kind("StatefulSet")["nats"]["spec"]["template"]["spec"]["containers"][0]
    k8s_env = {item["name"] for item in nats["env"]}
    assert used == compose_env == k8s_env
    assert of_kind("ConfigMap")["nats-config"]["data"]["cluster.conf"] == conf
    assert of_kind("StatefulSet")["nats"]["spec"]["replicas"] == 3


def test_kubernetes_deploys_every_service_with_replicas_probes_and_config() -> None:
    deployments = of_kind("Deployment")
    config, secrets = of_kind("ConfigMap"), of_kind("Secret")
    served = {}
    for name, deployment in deployments.items():
        spec = deployment["spec"]
        container = spec["template"]["spec"]["containers"][0]
        assert spec["replicas"] >= 1, name
        assert container["livenessProbe"]["httpGet"]["path"] == "/health", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready", name
        sources = container["envFrom"]
        assert {s["configMapRef"]["name"] for s in sources if "configMapRef" in s} <= set(config)
        assert {s["secretRef"]["name"] for s in sources if "secretRef" in s} <= set(secrets)
        assert container["args"][:1] == ["serve"]
        served[container["args"][1]] = spec["replicas"]
        labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert set(SERVICES) <= set(served)
    assert all(is_runnable(service) for service in served)
    assert config["vigil-config"]["data"]["VIGIL_STREAM_REPLICAS"] == "3"
    assert "VIGIL_DATABASE_URL" in secrets["vigil-secrets"]["stringData"]


def test_the_dockerfile_serves_the_command_it_is_given() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["vigil"]' in dockerfile
    assert 'CMD ["serve", "api"' in dockerfile
    for folder in ("shared", "services"):
        assert f"COPY {folder} ./{folder}" in dockerfile
        assert (DEPLOY.parent / folder).is_dir()
