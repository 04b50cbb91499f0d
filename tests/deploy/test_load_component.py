"""deploy/components/load: the optional Job that runs `app -mode=load` against the
frontend Service, added to the local overlay, renders, validates strictly, and runs a
command the program accepts, as an unprivileged pod."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from awsme.cli import parse_settings
from tests.deploy.test_kubernetes import KUBERNETES_VERSION, ROOT
from tests.deploy.test_network_policies import DNS, can_reach, pods


def test_load_job_component(tmp_path: Path) -> None:
    # As a user adds it: to the local overlay's own kustomization.
    deploy = tmp_path / "deploy"
    shutil.copytree(ROOT / "deploy", deploy)
    overlay = deploy / "overlays" / "local"
    with (overlay / "kustomization.yaml").open("a") as kustomization:
        kustomization.write("\ncomponents:\n  - ../../components/load\n")
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, timeout=60
    )
    assert rendered.returncode == 0, rendered.stderr
    (tmp_path / "all.yaml").write_text(rendered.stdout)
    validator = Path(sys.executable).parent / "kubernetes-validate"
    result = subprocess.run(
        [str(validator), "--strict", "-k", KUBERNETES_VERSION, str(tmp_path / "all.yaml")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr

    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    (job,) = [d for d in docs if d["kind"] == "Job"]
    assert job["metadata"]["namespace"] == "awsme"
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "awsme:local", "the overlay's image, as for the app"
    assert pod["securityContext"]["runAsNonRoot"] is True
    settings, _ = parse_settings(container["command"][1:], {})
    assert settings.mode == "load" and settings.fresh_connections
    (frontend,) = [
        d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "frontend"
    ]
    (port,) = frontend["spec"]["ports"]
    assert settings.url == f"http://frontend{'' if port['port'] == 80 else ':' + str(port['port'])}"
    # Allowed through the namespace's default deny: to the frontend and DNS, no further.
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    found = pods(docs)
    load, frontend_pod, backend = found["load"], found["frontend"], found["backend"]
    assert can_reach(policies, load, frontend_pod, 8080)
    assert can_reach(policies, load, DNS, 53, "UDP")
    assert not can_reach(policies, load, backend, 8081)
    assert not can_reach(policies, load, found["database"], 3306)
