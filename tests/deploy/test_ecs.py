"""deploy/ecs/ and docs/ecs.md: the docs' own `sed` lines fill in the task and service
definitions, which then pass the parameter validation of the ECS API model that ships
with botocore (offline), and agree with what the image expects."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from botocore.session import get_session
from botocore.validate import ParamValidator

from awsme.cli import parse_settings
from awsme.settings import declared_settings, env_name
from tests.docs_commands import page_commands

ROOT = Path(__file__).resolve().parents[2]
# What a reader has exported by then (docs/ecs.md, sections 1 to 4; containers.md's IMAGE).
READER = {
    "AWS_DEFAULT_REGION": "eu-west-3",
    "AWS_ACCOUNT_ID": "123456789012",
    "IMAGE": "123456789012.dkr.ecr.eu-west-3.amazonaws.com/awsme:abc1234",
    "DB_HOST": "notes.abcdefghijkl.eu-west-3.rds.amazonaws.com",
    "SUBNET_A": "subnet-0aaaaaaaaaaaaaaaa",
    "SUBNET_B": "subnet-0bbbbbbbbbbbbbbbb",
    "BACKEND_SECURITY_GROUP": "sg-0backend00000000",
    "FRONTEND_SECURITY_GROUP": "sg-0frontend0000000",
    "TARGET_GROUP_ARN": (
        "arn:aws:elasticloadbalancing:eu-west-3:123456789012:targetgroup/awsme-frontend/0123"
    ),
}
PLACEHOLDER = re.compile(
    r"\b(ACCOUNT_ID|REGION|RDS_ENDPOINT|SUBNET_[AB]|[A-Z]+_SECURITY_GROUP|TARGET_GROUP_ARN)\b"
)
ENVIRONMENT_NAMES = {env_name(spec) for spec in declared_settings()}


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """file name -> the JSON that the docs' sed lines make from deploy/ecs/, run as a
    reader runs them (from a folder where deploy/ is the repository's)."""
    folder = tmp_path_factory.mktemp("ecs")
    (folder / "deploy").symlink_to(ROOT / "deploy")
    lines = [c for c in page_commands(ROOT / "docs" / "ecs.md") if c.startswith("sed ")]
    assert len(lines) == 4
    for line in lines:
        result = subprocess.run(
            ["bash", "-c", line],
            cwd=folder,
            env={"PATH": "/usr/bin:/bin", **READER},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
    made = {p.name: p.read_text() for p in folder.glob("*.json")}
    assert set(made) == {f"{role}-{kind}.json" for role in ("backend", "frontend")
                         for kind in ("task", "service")}  # fmt: skip
    for name, text in made.items():
        assert not PLACEHOLDER.search(text), f"{name}: {PLACEHOLDER.search(text)}"
    return {name: json.loads(text) for name, text in made.items()}


def validate(operation: str, params: dict[str, Any]) -> None:
    model = get_session().get_service_model("ecs").operation_model(operation)
    report = ParamValidator().validate(params, model.input_shape)
    assert not report.has_errors(), report.generate_report()


def containers(task: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in task["containerDefinitions"]}


def settings_of(container: dict[str, Any]) -> Any:
    command = container["command"]
    assert command[0] == "app", command
    environment = {e["name"]: e["value"] for e in container.get("environment", [])}
    secrets = {s["name"]: "from-ssm" for s in container.get("secrets", [])}
    settings, _ = parse_settings(command[1:], {**environment, **secrets})
    return settings


@pytest.mark.parametrize("role", ["backend", "frontend"])
def test_definitions_pass_the_ecs_api_model(filled: dict[str, Any], role: str) -> None:
    validate("RegisterTaskDefinition", filled[f"{role}-task.json"])
    validate("CreateService", filled[f"{role}-service.json"])


@pytest.mark.parametrize("role", ["backend", "frontend"])
def test_tasks_run_the_image_as_it_expects(filled: dict[str, Any], role: str) -> None:
    task = filled[f"{role}-task.json"]
    assert task["networkMode"] == "awsvpc" and task["requiresCompatibilities"] == ["FARGATE"]
    main = containers(task)[role]
    assert main["essential"] is True
    settings = settings_of(main)
    assert settings.mode == role
    ports = [m["containerPort"] for m in main["portMappings"]]
    assert ports == [settings.port]
    check = main["healthCheck"]["command"]
    assert check == ["CMD", "app", "-mode=check", f"-url=http://127.0.0.1:{settings.port}/readyz"]
    parse_settings(check[2:], {})
    # SIGTERM: serve shutdown_delay more, drain within shutdown_timeout; ECS kills after
    # stopTimeout, which must be longer, and at most Fargate's 120 s.
    assert settings.shutdown_delay + settings.shutdown_timeout < main["stopTimeout"] <= 120
    for container in task["containerDefinitions"]:
        assert container["image"] == READER["IMAGE"]
        assert container["user"] == "10001" and container["readonlyRootFilesystem"] is True
        names = {e["name"] for e in container.get("environment", []) + container.get("secrets", [])}
        assert names <= ENVIRONMENT_NAMES, names - ENVIRONMENT_NAMES
        options = container["logConfiguration"]["options"]
        assert container["logConfiguration"]["logDriver"] == "awslogs"
        assert options["awslogs-region"] == READER["AWS_DEFAULT_REGION"]
    service = filled[f"{role}-service.json"]
    assert service["taskDefinition"] == task["family"]


def test_the_password_comes_only_from_ssm(filled: dict[str, Any]) -> None:
    backend = filled["backend-task.json"]
    for container in backend["containerDefinitions"]:
        environment = {e["name"] for e in container.get("environment", [])}
        assert "AWSME_DB_PASSWORD" not in environment and "AWSME_DB_URL" not in environment
        (secret,) = container["secrets"]
        assert secret["name"] == "AWSME_DB_PASSWORD"
        assert secret["valueFrom"].startswith("arn:aws:ssm:eu-west-3:123456789012:parameter/")
    policy = json.loads((ROOT / "deploy" / "ecs" / "execution-role-policy.json").read_text())
    (statement,) = policy["Statement"]
    assert statement["Action"] == "ssm:GetParameters"
    parameter = secret["valueFrom"].split(":parameter", 1)[1]
    assert parameter.startswith(statement["Resource"].split(":parameter", 1)[1].rstrip("*"))


def test_migrations_run_once_before_the_backend(filled: dict[str, Any]) -> None:
    tasks = containers(filled["backend-task.json"])
    migrate = tasks["migrate"]
    assert migrate["essential"] is False
    settings = settings_of(migrate)
    assert settings.mode == "" and settings.run_migrations
    assert tasks["backend"]["dependsOn"] == [{"containerName": "migrate", "condition": "SUCCESS"}]
    assert not settings_of(tasks["backend"]).run_migrations


def test_the_frontend_finds_the_backend_through_service_connect(filled: dict[str, Any]) -> None:
    frontend = settings_of(containers(filled["frontend-task.json"])["frontend"])
    connect = filled["backend-service.json"]["serviceConnectConfiguration"]
    (published,) = connect["services"]
    (alias,) = published["clientAliases"]
    assert frontend.backend_service == f"http://{alias['dnsName']}:{alias['port']}"
    backend_task = containers(filled["backend-task.json"])["backend"]
    assert published["portName"] in {m["name"] for m in backend_task["portMappings"]}
    client = filled["frontend-service.json"]["serviceConnectConfiguration"]
    assert client["enabled"] and client["namespace"] == connect["namespace"]
    (balancer,) = filled["frontend-service.json"]["loadBalancers"]
    assert (balancer["containerName"], balancer["containerPort"]) == ("frontend", frontend.port)
