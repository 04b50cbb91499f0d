"""deploy/: every overlay renders with `kubectl kustomize`, passes `kubernetes-validate
--strict`, and holds what the issue asks (probes, security, downward API, PDB, HPA,
migration, shutdown timings that agree)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from awsme.cli import parse_settings
from awsme.settings import declared_settings, env_name

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = sorted(p.name for p in (ROOT / "deploy" / "overlays").iterdir() if p.is_dir())
KUBERNETES_VERSION = "1.33.0"  # a version EKS runs; its schemas ship with kubernetes-validate
APP_CONTAINERS = ("backend", "frontend", "migrate")
DOWNWARD_API = {
    "POD_NAME": "metadata.name",
    "POD_NAMESPACE": "metadata.namespace",
    "NODE_NAME": "spec.nodeName",
    "POD_IP": "status.podIP",
}

_rendered: dict[str, str] = {}


def render(overlay: str) -> str:
    if overlay not in _rendered:
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            pytest.fail("kubectl is needed to render deploy/overlays (kustomize is built in)")
        result = subprocess.run(
            [kubectl, "kustomize", str(ROOT / "deploy" / "overlays" / overlay)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        _rendered[overlay] = result.stdout
    return _rendered[overlay]


def documents(overlay: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(render(overlay)) if doc]


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = find(docs, kind, name)
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def app_containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    containers = pod_spec.get("initContainers", []) + pod_spec["containers"]
    return [c for c in containers if c["name"] in APP_CONTAINERS]


def literal_env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def settings_of(container: dict[str, Any]) -> Any:
    """The settings the program would run with: its command line and literal env."""
    command = container.get("command", []) + container.get("args", [])
    assert command[0] == "app", command
    settings, _ = parse_settings(command[1:], literal_env(container))
    return settings


def test_there_are_local_and_eks_overlays() -> None:
    assert {"local", "eks"} <= set(OVERLAYS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_strictly(overlay: str, tmp_path: Path) -> None:
    validator = Path(sys.executable).parent / "kubernetes-validate"
    rendered = tmp_path / f"{overlay}.yaml"
    rendered.write_text(render(overlay))
    result = subprocess.run(
        [str(validator), "--strict", "-k", KUBERNETES_VERSION, str(rendered)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "did not validate" not in result.stdout and "ERROR" not in result.stdout


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_in_one_namespace(overlay: str) -> None:
    docs = documents(overlay)
    namespaces = find(docs, "Namespace")
    assert [n["metadata"]["name"] for n in namespaces] == ["awsme"]
    labels = namespaces[0]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "awsme", doc["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes(overlay: str) -> None:
    for name in ("backend", "frontend"):
        pod = one(documents(overlay), "Deployment", name)["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        port_names = {p["name"] for p in container["ports"]}
        probes = {
            kind: container[kind]["httpGet"]
            for kind in ("readinessProbe", "livenessProbe", "startupProbe")
        }
        assert probes["readinessProbe"]["path"] == "/readyz"
        # Liveness must not depend on the database or the backend.
        assert probes["livenessProbe"]["path"] == "/livez"
        assert probes["startupProbe"]["path"] == "/livez"
        for probe in probes.values():
            assert probe["port"] in port_names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_security_context(overlay: str) -> None:
    for workload in find(documents(overlay), "Deployment"):
        pod = workload["spec"]["template"]["spec"]
        pod_context = pod["securityContext"]
        assert pod_context["runAsNonRoot"] is True
        assert pod_context["runAsUser"] != 0
        assert pod_context["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        for container in app_containers(pod):
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert "add" not in context["capabilities"]
            assert container["resources"]["requests"] and container["resources"]["limits"]
            mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
            assert "/tmp" in mounts, "-workers>1 needs a writable /tmp"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_downward_api(overlay: str) -> None:
    for name in ("backend", "frontend"):
        pod = one(documents(overlay), "Deployment", name)["spec"]["template"]["spec"]
        env = {e["name"]: e for e in pod["containers"][0]["env"]}
        for variable, field in DOWNWARD_API.items():
            assert env[variable]["valueFrom"]["fieldRef"]["fieldPath"] == field


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_disruption_budgets_and_autoscaler(overlay: str) -> None:
    docs = documents(overlay)
    for name in ("backend", "frontend"):
        labels = one(docs, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        budget = one(docs, "PodDisruptionBudget", name)["spec"]
        assert budget["selector"]["matchLabels"].items() <= labels.items()
        assert budget.get("maxUnavailable") == 1 or "minAvailable" in budget
    autoscaler = one(docs, "HorizontalPodAutoscaler", "backend")["spec"]
    assert autoscaler["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "backend",
    }
    assert autoscaler["minReplicas"] >= 2 and autoscaler["maxReplicas"] > autoscaler["minReplicas"]
    assert "replicas" not in one(docs, "Deployment", "backend")["spec"], "the HPA owns it"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_migration_runs_before_the_backend(overlay: str) -> None:
    pod = one(documents(overlay), "Deployment", "backend")["spec"]["template"]["spec"]
    (migrate,) = pod["initContainers"]
    (backend,) = pod["containers"]
    assert migrate["command"] == ["app", "-run-migrations"]
    assert migrate["image"] == backend["image"]
    settings = settings_of(migrate)
    assert settings.mode == "" and settings.run_migrations
    # The same database: the same DB_* variables, from the same places.
    db_env = [e for e in backend["env"] if e["name"].startswith("AWSME_DB_")]
    assert db_env and db_env == [e for e in migrate["env"] if e["name"].startswith("AWSME_DB_")]
    assert migrate["volumeMounts"][0] in backend["volumeMounts"]
    assert not settings_of(backend).run_migrations, "migrated once, by the init container"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_commands_and_variables_are_the_programs(overlay: str) -> None:
    known = {env_name(spec) for spec in declared_settings()}
    for workload in find(documents(overlay), "Deployment"):
        for container in app_containers(workload["spec"]["template"]["spec"]):
            settings_of(container)  # raises on an unknown flag or a bad value
            for variable in container.get("env", []):
                if variable["name"].startswith("AWSME_"):
                    assert variable["name"] in known, variable["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_shutdown_timings_agree(overlay: str) -> None:
    for name in ("backend", "frontend"):
        pod = one(documents(overlay), "Deployment", name)["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        settings = settings_of(container)
        delay, timeout = settings.shutdown_delay, settings.shutdown_timeout
        assert delay > 0, "endpoints need time to drop a terminating pod"
        assert timeout > 0
        assert pod["terminationGracePeriodSeconds"] > delay + timeout
        readiness = container["readinessProbe"]
        # The kubelet sees the 503 of /readyz before the delay is over.
        assert readiness["periodSeconds"] * readiness.get("failureThreshold", 3) <= delay
        assert (
            container["livenessProbe"]["periodSeconds"]
            * container["livenessProbe"].get("failureThreshold", 3)
            > delay + timeout
        ), "no liveness kill while draining"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_reach_their_pods(overlay: str) -> None:
    docs = documents(overlay)
    for name in ("backend", "frontend"):
        template = one(docs, "Deployment", name)["spec"]["template"]
        service = one(docs, "Service", name)["spec"]
        assert service["selector"].items() <= template["metadata"]["labels"].items()
        ports = {p["name"] for p in template["spec"]["containers"][0]["ports"]}
        assert {p["targetPort"] for p in service["ports"]} <= ports
    backend_port = one(docs, "Service", "backend")["spec"]["ports"][0]["port"]
    frontend = one(docs, "Deployment", "frontend")["spec"]["template"]["spec"]["containers"][0]
    assert settings_of(frontend).backend_service == f"http://backend:{backend_port}"


def test_local_overlay_has_mysql_on_a_claim() -> None:
    docs = documents("local")
    database = one(docs, "StatefulSet", "db")["spec"]
    (claim,) = database["volumeClaimTemplates"]
    (mysql,) = database["template"]["spec"]["containers"]
    assert mysql["image"].startswith(("mysql:", "mariadb:"))
    assert claim["metadata"]["name"] in {m["name"] for m in mysql["volumeMounts"]}
    assert one(docs, "Service", "db")["spec"]["clusterIP"] == "None"
    # The generated Secret holds what the backend reads, and points it at `db`.
    (secret,) = find(docs, "Secret")
    assert secret["metadata"]["name"].startswith("awsme-db-")
    backend = one(docs, "Deployment", "backend")["spec"]["template"]["spec"]
    references = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in backend["containers"][0]["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert references == {secret["metadata"]["name"]}
    assert set(secret["data"]) == {"host", "username", "password"}
    assert backend["containers"][0]["image"] == "awsme:local"


def test_eks_overlay_uses_an_external_database_and_an_alb() -> None:
    docs = documents("eks")
    assert not find(docs, "Secret"), "the database Secret is created outside the repository"
    assert not find(docs, "StatefulSet")
    ingress = one(docs, "Ingress", "frontend")
    assert ingress["spec"]["ingressClassName"] == "alb"
    annotations = ingress["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"
    # With the readiness gate, the ALB's check is a readiness check: never /healthz,
    # which follows the backends and would take every frontend out in an outage.
    assert annotations["alb.ingress.kubernetes.io/healthcheck-path"] == "/readyz"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "frontend"
    namespace = one(docs, "Namespace", "awsme")["metadata"]["labels"]
    assert namespace["elbv2.k8s.aws/pod-readiness-gate-inject"] == "enabled"
    # The ALB's deregistration outlasts the frontend's delay.
    frontend = one(docs, "Deployment", "frontend")["spec"]["template"]["spec"]
    assert settings_of(frontend["containers"][0]).shutdown_delay >= 10


def test_the_docs_eks_pipeline_puts_in_the_image(tmp_path: Path) -> None:
    docs = (ROOT / "docs" / "containers.md").read_text()
    (line,) = [
        x.strip() for x in docs.splitlines() if "kubectl kustomize deploy/overlays/eks |" in x
    ]
    assert line.endswith("| kubectl apply -f -")
    command = line.removesuffix("| kubectl apply -f -")
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/awsme:abc1234"
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "IMAGE": image},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    images = {
        c["image"]
        for d in yaml.safe_load_all(result.stdout)
        if d and d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"].get("initContainers", [])
        + d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {image}
