"""compose.yaml, its proxy, buildspec.yml and the CodeBuild project template."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from awsme.cli import parse_settings
from awsme.version import VERSION

ROOT = Path(__file__).resolve().parents[2]
REGION_NAME = re.compile(r"\b(?:us|eu|ap|sa|ca|me|af|il|mx)-[a-z]+-\d\b")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def buildspec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "buildspec.yml").read_text())
    return loaded


def app_settings(service: dict[str, Any]) -> Any:
    command = service["command"]
    assert isinstance(command, list) and command[0] == "app", command
    settings, _ = parse_settings(command[1:], {})
    return settings


def seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+)s", text)
    assert match, text
    return float(match.group(1))


def test_compose_services() -> None:
    services = compose()["services"]
    modes = {name: app_settings(s).mode for name, s in services.items() if "command" in s}
    backends = sorted(name for name, mode in modes.items() if mode == "backend")
    assert len(backends) == 2
    assert {"db", "migrate", "proxy", "frontend"} <= set(services)
    assert modes["frontend"] == "frontend" and modes["migrate"] == ""


def test_compose_database_on_a_named_volume() -> None:
    spec = compose()
    db = spec["services"]["db"]
    assert db["image"].startswith(("mysql:", "mariadb:"))
    volume, _, target = db["volumes"][0].partition(":")
    assert target == "/var/lib/mysql" and volume in spec["volumes"]


def test_compose_migration_is_one_shot() -> None:
    migrate = compose()["services"]["migrate"]
    settings = app_settings(migrate)
    assert settings.mode == "" and settings.run_migrations
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"


def test_compose_start_order_follows_health() -> None:
    services = compose()["services"]
    for name, service in services.items():
        if name != "migrate":
            assert "healthcheck" in service, name
        for dependency, rule in service.get("depends_on", {}).items():
            wanted = (
                "service_completed_successfully" if dependency == "migrate" else "service_healthy"
            )
            assert rule["condition"] == wanted, (name, dependency)
    backends = [n for n, s in services.items() if s.get("command", [""])[1:2] == ["-mode=backend"]]
    for backend in backends:
        assert set(services[backend]["depends_on"]) == {"db", "migrate"}
        assert services[backend]["image"] == services["migrate"]["image"]
    assert set(services["proxy"]["depends_on"]) == set(backends)
    assert set(services["frontend"]["depends_on"]) == {"proxy"}


def test_compose_frontend_goes_through_the_proxy() -> None:
    services = compose()["services"]
    frontend = services["frontend"]
    assert frontend["ports"] == ["8080:8080"]
    assert app_settings(frontend).port == 8080
    assert app_settings(frontend).backend_service == "http://proxy:8081"
    source, _, target = services["proxy"]["volumes"][0].partition(":")
    config = (ROOT / source).read_text()
    assert target.startswith("/etc/nginx/nginx.conf")
    assert "listen 8081;" in config
    backends = [n for n, s in services.items() if s.get("command", [""])[1:2] == ["-mode=backend"]]
    for backend in backends:
        port = app_settings(services[backend]).port
        assert re.search(rf"server {backend}:{port}\b", config), backend


def test_compose_app_containers_are_locked_down() -> None:
    for name, service in compose()["services"].items():
        if service.get("command", [""])[0] != "app":
            continue
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        settings = app_settings(service)
        grace = seconds(service["stop_grace_period"])
        assert grace > settings.shutdown_delay + settings.shutdown_timeout, name


def test_compose_healthchecks_ask_the_probes() -> None:
    services = compose()["services"]
    for name, service in services.items():
        if service.get("command", [""])[0] == "app" and name != "migrate":
            test = service["healthcheck"]["test"]
            assert test[-1] == f"http://127.0.0.1:{app_settings(service).port}/readyz", name


def test_buildspec_logs_in_builds_and_pushes() -> None:
    spec = buildspec()
    assert spec["version"] == 0.2
    commands = [c for phase in spec["phases"].values() for c in phase["commands"]]
    text = "\n".join(commands)
    (login,) = [c for c in commands if "docker login" in c]
    assert re.search(
        r"^ *aws ecr get-login-password --region \$AWS_DEFAULT_REGION \| docker login ",
        login,
        re.MULTILINE,
    )
    assert login.startswith('if [ -z "${REGISTRY:-}" ]; then'), "ECR only when none is set"
    assert "--password-stdin" in login and "--username AWS" in login
    assert "aws ecr get-login " not in text and "get-login --" not in text
    # One region, from one variable.
    assert set(re.findall(r"\$\{?(AWS_(?:DEFAULT_)?REGION)", text)) == {"AWS_DEFAULT_REGION"}
    assert not REGION_NAME.search(text)
    pushes = [c for c in commands if c.startswith("docker push ")]
    assert pushes == [
        "docker push $REGISTRY/$IMAGE_REPO_NAME:$IMAGE_TAG",
        "docker push $REGISTRY/$IMAGE_REPO_NAME:$COMMIT_TAG",
    ]
    (build,) = [c for c in commands if c.startswith("docker build")]
    assert "--tag $REGISTRY/$IMAGE_REPO_NAME:$IMAGE_TAG" in build
    assert "--tag $REGISTRY/$IMAGE_REPO_NAME:$COMMIT_TAG" in build
    assert "--build-arg VERSION=$VERSION" in build
    assert "REGISTRY=$AWS_ACCOUNT_ID.dkr.ecr.$AWS_DEFAULT_REGION.amazonaws.com" in login


def test_buildspec_tags_and_version_come_out_right() -> None:
    """Run the buildspec's own COMMIT_TAG and VERSION lines, as CodeBuild's bash would."""
    commands = [c for phase in buildspec()["phases"].values() for c in phase["commands"]]
    lines = [c for c in commands if c.startswith(("COMMIT_TAG=", "VERSION="))]
    script = "\n".join([*lines, 'echo "$COMMIT_TAG $VERSION"'])
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "CODEBUILD_RESOLVED_SOURCE_VERSION": "0123456789abcdef"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (result.returncode, result.stdout) == (0, f"0123456 {VERSION}\n"), result.stderr


def test_create_project_matches_the_buildspec() -> None:
    project = json.loads((ROOT / "deploy" / "codebuild" / "create-project.json").read_text())
    assert (ROOT / project["source"]["buildspec"]).resolve() == ROOT / "buildspec.yml"
    environment = project["environment"]
    assert environment["privilegedMode"] is True, "docker build needs it"
    names = {v["name"] for v in environment["environmentVariables"]}
    assert names == {"IMAGE_REPO_NAME", "IMAGE_TAG"}
    assert not REGION_NAME.search(json.dumps(project)), "the region is the project's own"
    assert project["artifacts"] == {"type": "NO_ARTIFACTS"}
    policy = json.loads((ROOT / "deploy" / "codebuild" / "trust-policy.json").read_text())
    assert policy["Statement"][0]["Principal"] == {"Service": "codebuild.amazonaws.com"}


def test_the_docs_sed_fills_in_create_project(tmp_path: Path) -> None:
    docs = (ROOT / "docs" / "containers.md").read_text()
    (line,) = [x.strip() for x in docs.splitlines() if x.strip().startswith("sed ")]
    assert line.endswith("> create-project.json")
    role = "arn:aws:iam::123456789012:role/awsme-codebuild"
    result = subprocess.run(
        ["bash", "-c", line.replace("> create-project.json", f"> {tmp_path}/out.json")],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "GITHUB_USER": "someone", "CODEBUILD_ROLE_ARN": role},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    project = json.loads((tmp_path / "out.json").read_text())
    assert project["serviceRole"] == role
    assert project["source"]["location"] == "https://github.com/someone/awsme.git"
    assert "YOUR-" not in json.dumps(project)
