"""The backend role, served on loopback, reading the simulator on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from awsme.backend.app import create_backend_app
from awsme.backend.legacy import notes_json
from awsme.backend.schemas import InstanceDocument, LegacyInfo
from awsme.notes.store import Note
from awsme.settings import Settings
from awsme.version import VERSION
from tests.conftest import RunningSimulator
from tests.loopback import serve, wait_ready

GO_SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "go-samples"
GO_KEYS = [
    "Id", "Name", "Version", "Hostname", "Zone", "Project", "ContainerIP", "InternalIP",
    "ExternalIP", "LBRequest", "ClientIP", "Local", "Notes", "Error",
]  # fmt: skip


@pytest.fixture
def backend_factory(simulator: RunningSimulator) -> Iterator[Any]:
    stops: list[Any] = []

    def start(environ: dict[str, str] | None = None, **options: Any) -> str:
        options.setdefault("metadata_endpoint", simulator.url)
        app = create_backend_app(Settings(mode="backend", **options), environ or {})
        context = serve(app)
        server = context.__enter__()
        stops.append(context)
        wait_ready(server.url)
        return server.url

    yield start
    for context in stops:
        context.__exit__(None, None, None)


@pytest.fixture
def backend(backend_factory: Any) -> str:
    url: str = backend_factory()
    return url


def test_root_has_the_go_apps_keys_and_values(backend: str) -> None:
    response = httpx.get(backend + "/", headers={"User-Agent": "pytest"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body)[: len(GO_KEYS)] == GO_KEYS
    go = json.loads((GO_SAMPLES / "backend-root.json").read_text())
    for key in ("Id", "Name", "Hostname", "Zone", "Project", "InternalIP", "ExternalIP"):
        assert body[key] == go[key], key
    for key in GO_KEYS:
        assert type(body[key]) is type(go[key]), key
    assert body["Version"] == VERSION
    assert body["Local"] is False and body["Notes"] == [] and body["Error"] == ""
    assert body["ClientIP"] == "127.0.0.1"
    LegacyInfo.model_validate(body)


def test_lbrequest_is_the_raw_request_with_secrets_redacted(backend: str) -> None:
    headers = {
        "Authorization": "Bearer very-secret",
        "Cookie": "session=also-secret",
        "Proxy-Authorization": "Basic c2VjcmV0",
        "X-aws-ec2-metadata-token": "token-secret",
        "X-Forwarded-For": "203.0.113.9",
        "User-Agent": "pytest",
    }
    body = httpx.get(backend + "/?a=1", headers=headers).json()
    dump = body["LBRequest"]
    assert dump.startswith("GET /?a=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert dump.endswith("\r\n\r\n")
    assert "secret" not in dump.lower().replace("x-aws-ec2-metadata-token", "")
    for name in ("Authorization", "Cookie", "Proxy-Authorization", "X-Aws-Ec2-Metadata-Token"):
        assert f"{name}: [redacted]" in dump
    assert "User-Agent: pytest" in dump and "X-Forwarded-For: 203.0.113.9" in dump
    # ClientIP is the address the request came from, not what a header claims.
    assert body["ClientIP"] == "127.0.0.1"


SECRET_HEADERS = {
    "X-Api-Key": "k-1",
    "X-Amzn-Oidc-Accesstoken": "eyJ-2",
    "X-Amzn-Oidc-Data": "plain-data",  # no secret word: shown
    "X-Auth-Request-Email": "a@example.com",
    "X-Csrf-Token": "csrf-3",
    "X-Session-Id": "sess-4",
    "X-Client-Secret": "cs-5",
    "X-Db-Password": "pw-6",
    "X-Goog-Iap-Jwt-Assertion-Signature": "sig-7",
    "X-Aws-Credential": "cred-8",
    "Set-Cookie2": "c-9",
    "x-SECRET-lowercase-and-upper": "s-10",
}


def test_every_header_named_like_a_secret_is_redacted(backend: str) -> None:
    body = httpx.get(backend + "/", headers=SECRET_HEADERS).json()
    dump = body["LBRequest"]
    for value in SECRET_HEADERS.values():
        if value != "plain-data":
            assert value not in dump, value
    assert "X-Amzn-Oidc-Data: plain-data" in dump
    for name in ("X-Api-Key", "X-Amzn-Oidc-Accesstoken", "X-Secret-Lowercase-And-Upper"):
        assert f"{name}: [redacted]" in dump


def test_instance_document_matches_its_schema(backend: str) -> None:
    response = httpx.get(backend + "/api/v1/instance")
    assert response.status_code == 200
    document = InstanceDocument.model_validate(response.json())
    assert document.provider == "aws"
    assert document.instance.id == "i-0123456789abcdef0"
    assert document.placement.zone_id == "use1-az4"
    assert document.metadata.source == "ec2" and document.metadata.imds_version == "v2"
    assert document.kubernetes is None and document.ecs is None
    assert document.served_by.version == VERSION


def test_kubernetes_downward_api_is_shown(backend_factory: Any) -> None:
    environ = {
        "POD_NAME": "backend-7d9f-abcde",
        "POD_NAMESPACE": "workshop",
        "NODE_NAME": "ip-10-0-1-2.ec2.internal",
        "POD_IP": "10.0.1.23",
        "KUBERNETES_SERVICE_HOST": "10.100.0.1",
    }
    url = backend_factory(environ)
    kube = httpx.get(url + "/api/v1/instance").json()["kubernetes"]
    assert kube == {
        "pod_name": "backend-7d9f-abcde",
        "namespace": "workshop",
        "node_name": "ip-10-0-1-2.ec2.internal",
        "pod_ip": "10.0.1.23",
    }


def test_spot_interruption_reaches_the_answer(simulator_factory: Any, backend_factory: Any) -> None:
    simulator = simulator_factory(spot_action="terminate")
    url = backend_factory(metadata_endpoint=simulator.url)
    events = httpx.get(url + "/").json()["Instance"]["events"]
    assert events["spot_interruption"]["action"] == "terminate"


def test_hop_limit_hint_is_a_notice_not_an_error(
    simulator_factory: Any, backend_factory: Any
) -> None:
    """IMDSv1 works: the metadata is fine, so Error stays empty; the notice says why v1."""
    simulator = simulator_factory(token_delay=30)
    url = backend_factory(metadata_endpoint=simulator.url)
    body = httpx.get(url + "/", timeout=10).json()
    assert body["Id"] == "i-0123456789abcdef0"  # served through IMDSv1
    assert body["Error"] == ""
    notice = body["Instance"]["metadata"]["notice"]
    assert notice.startswith("IMDS v1 (token request to ") and "HttpPutResponseHopLimit" in notice
    instance = httpx.get(url + "/api/v1/instance", timeout=10).json()
    assert instance["metadata"]["error"] is None and instance["metadata"]["notice"] == notice


def test_v1_disabled_and_hanging_token_leaves_an_error(
    simulator_factory: Any, backend_factory: Any
) -> None:
    simulator = simulator_factory(token_delay=30)
    url = backend_factory({"AWS_EC2_METADATA_V1_DISABLED": "true"}, metadata_endpoint=simulator.url)
    response = httpx.get(url + "/", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["Id"] == "" and "HttpPutResponseHopLimit" in body["Error"]
    assert not [p for p in simulator.paths() if p.startswith("/latest/meta-data")]


def test_never_asks_for_credentials(simulator: RunningSimulator, backend: str) -> None:
    for path in ("/", "/api/v1/instance", "/healthz", "/metrics"):
        httpx.get(backend + path)
    assert any(path.endswith("/iam/info") for path in simulator.paths())
    assert not [p for p in simulator.paths() if "credentials" in p]


def test_head_on_root(backend: str) -> None:
    head = httpx.head(backend + "/")
    assert (head.status_code, head.content) == (200, b"")


def test_version_and_probes(backend: str) -> None:
    version = httpx.get(backend + "/version")
    assert version.text == VERSION + "\n"
    assert version.headers["content-type"].startswith("text/plain")
    for probe in ("/healthz", "/livez", "/readyz"):
        response = httpx.get(backend + probe)
        assert (response.status_code, response.text) == (200, "ok\n"), probe


def test_metrics_are_prometheus_text(backend: str) -> None:
    httpx.get(backend + "/")
    httpx.get(backend + "/api/v1/instance")
    text = httpx.get(backend + "/metrics").text
    families = {family.name: family for family in text_string_to_metric_families(text)}
    build = families["awsme_build_info"].samples[0]
    assert build.labels == {"version": VERSION, "role": "backend"}
    routes = {s.labels["route"] for s in families["awsme_http_requests"].samples}
    assert {"/", "/api/v1/instance"} <= routes


def test_openapi_documents_the_api(backend: str) -> None:
    document = httpx.get(backend + "/openapi.json").json()
    assert {"/", "/api/v1/instance", "/healthz", "/version"} <= set(document["paths"])
    assert "InstanceDocument" in document["components"]["schemas"]


def test_fail_percent_answers_503(backend_factory: Any) -> None:
    url = backend_factory(fail_percent=100.0)
    response = httpx.get(url + "/")
    assert response.status_code == 503 and "fail-percent" in response.text
    assert httpx.get(url + "/healthz").status_code == 200  # probes are not affected


def test_the_notes_json_of_get_root_is_made_once_per_list_and_is_what_inline_would_be() -> None:
    first = [
        Note(1, 'a "quoted" 🚀 note\n', datetime(2024, 1, 2, 3, 4, 5)),
        Note(2, "", None),
    ]
    texts, items = notes_json(first)
    assert orjson.dumps({"Notes": texts, "NoteItems": items}) == orjson.dumps(
        {"Notes": [n.text for n in first], "NoteItems": [n.as_json() for n in first]}
    )
    assert notes_json(first) == (texts, items)  # the requests of one read share it
    assert notes_json(list(first))[0] is not texts  # another read: made again
    after = [*first, Note(3, "added", None)]
    assert orjson.loads(orjson.dumps(notes_json(after)[0])) == ['a "quoted" 🚀 note\n', "", "added"]
    assert orjson.loads(orjson.dumps(notes_json([])[1])) == []
