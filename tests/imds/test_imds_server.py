"""The simulator over real HTTP on 127.0.0.1: tokens, the tree, triggers, control API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import awsme.imds
from awsme.imds import InstanceData, create_imds_app, load_instance_data
from tests.loopback import serve

TTL = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN = "X-aws-ec2-metadata-token"
DEFAULT_FILE = Path(awsme.imds.__file__).with_name("default-instance.json")
NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


class FakeClock:
    """Epoch seconds the test moves by hand, so expiry needs no sleeping."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def data() -> InstanceData:
    return load_instance_data(None)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(data: InstanceData, clock: FakeClock) -> Iterator[httpx.Client]:
    with serve(create_imds_app(data, clock=clock)) as server, _client(server.url) as http:
        yield http


def _client(url: str, timeout: float = 5.0) -> httpx.Client:
    # trust_env=False: a proxy from the environment must never see these requests.
    return httpx.Client(base_url=url, timeout=timeout, trust_env=False)


def _token(http: httpx.Client, ttl: str = "21600") -> str:
    response = http.put("/latest/api/token", headers={TTL: ttl})
    assert response.status_code == 200, response.text
    return response.text


def _meta(http: httpx.Client, path: str, **headers: str) -> httpx.Response:
    return http.get("/latest/meta-data/" + path, headers=headers)


# Tokens


@pytest.mark.parametrize(
    ("ttl", "status"),
    [("0", 400), ("1", 200), ("21600", 200), ("21601", 400), ("abc", 400), ("-1", 400),
     ("1.5", 400), ("", 400), (None, 400)],
)  # fmt: skip
def test_token_ttl_bounds(client: httpx.Client, ttl: str | None, status: int) -> None:
    headers = {} if ttl is None else {TTL: ttl}
    response = client.put("/latest/api/token", headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/plain")
    if status == 200:
        assert response.headers[TTL] == ttl
        assert len(response.text) >= 40
        assert _meta(client, "instance-id", **{TOKEN: response.text}).status_code == 200
    else:
        assert "\n" not in response.text


def test_tokens_are_distinct(client: httpx.Client) -> None:
    assert _token(client) != _token(client)


def test_proxied_token_request_is_forbidden(client: httpx.Client) -> None:
    response = client.put("/latest/api/token", headers={TTL: "60", "X-Forwarded-For": "10.0.0.1"})
    assert response.status_code == 403


def test_get_token_is_not_allowed(client: httpx.Client) -> None:
    response = client.get("/latest/api/token", headers={TTL: "60"})
    assert response.status_code == 405
    assert response.headers["allow"] == "PUT"


def test_unknown_token_is_unauthorized(client: httpx.Client) -> None:
    assert _meta(client, "instance-id", **{TOKEN: "not-a-token"}).status_code == 401
    assert client.get("/latest/dynamic/", headers={TOKEN: "nope"}).status_code == 401


def test_expired_token_is_unauthorized(client: httpx.Client, clock: FakeClock) -> None:
    token = _token(client, "2")
    clock.now += 1.9
    assert _meta(client, "instance-id", **{TOKEN: token}).status_code == 200
    clock.now += 0.1
    assert _meta(client, "instance-id", **{TOKEN: token}).status_code == 401


def test_expiry_with_the_real_clock(data: InstanceData) -> None:
    with serve(create_imds_app(data)) as server, _client(server.url) as http:
        token = _token(http, "1")
        assert _meta(http, "instance-id", **{TOKEN: token}).status_code == 200
        time.sleep(1.05)
        assert _meta(http, "instance-id", **{TOKEN: token}).status_code == 401


def test_v1_allowed_then_required_token(client: httpx.Client) -> None:
    assert _meta(client, "instance-id").text == "i-0123456789abcdef0"
    response = client.post("/_sim/require-token", params={"enabled": "true"})
    assert response.json()["require_token"] is True
    assert _meta(client, "instance-id").status_code == 401
    assert client.get("/latest/dynamic/instance-identity/document").status_code == 401
    token = _token(client)
    assert _meta(client, "instance-id", **{TOKEN: token}).text == "i-0123456789abcdef0"
    client.post("/_sim/require-token", params={"enabled": "false"})
    assert _meta(client, "instance-id").status_code == 200


def test_require_token_at_construction(data: InstanceData) -> None:
    with serve(create_imds_app(data, require_token=True)) as server, _client(server.url) as http:
        assert _meta(http, "").status_code == 401
        assert _meta(http, "", **{TOKEN: _token(http)}).status_code == 200
        # The control API is not part of the service and needs no token.
        assert http.get("/_sim/state").json()["require_token"] is True


def test_token_delay_makes_the_put_time_out(data: InstanceData) -> None:
    app = create_imds_app(data, token_delay=3.0)
    with serve(app) as server, _client(server.url, timeout=0.3) as http:
        started = time.monotonic()
        with pytest.raises(httpx.TimeoutException):
            http.put("/latest/api/token", headers={TTL: "60"})
        assert time.monotonic() - started < 2
        # IMDSv1 still answers: the delay only hits the token PUT.
        assert _meta(http, "instance-id").status_code == 200
        http.post("/_sim/token-delay", params={"seconds": "0"})
        assert _token(http)


def test_token_delay_via_control_api(client: httpx.Client) -> None:
    assert client.post("/_sim/token-delay", params={"seconds": "2.5"}).json()["token_delay"] == 2.5
    with pytest.raises(httpx.TimeoutException):
        client.put("/latest/api/token", headers={TTL: "60"}, timeout=0.2)


# The tree


def test_root_listings(client: httpx.Client) -> None:
    assert client.get("/").text == "latest/"
    assert client.get("/latest/").text == "dynamic/\nmeta-data/"
    assert client.get("/latest").text == "dynamic/\nmeta-data/"
    assert client.get("/latest/dynamic/").text == "instance-identity/"
    assert client.get("/latest/dynamic/instance-identity/").text == "document"


@pytest.mark.parametrize("path", ["", "/"])
def test_meta_data_listing(client: httpx.Client, path: str) -> None:
    response = client.get("/latest/meta-data" + path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.split("\n")
    assert lines == sorted(lines)
    for entry in ("ami-id", "instance-id", "placement/", "iam/", "network/", "events/", "tags/"):
        assert entry in lines
    assert "spot/" not in lines


@pytest.mark.parametrize("slash", ["", "/"])
def test_directory_listing_with_and_without_slash(client: httpx.Client, slash: str) -> None:
    placement = _meta(client, "placement" + slash)
    assert placement.text == "availability-zone\navailability-zone-id\nregion"
    assert _meta(client, "iam" + slash).text == "info\nsecurity-credentials/"
    assert _meta(client, "tags/instance" + slash).text == "Environment\nName\nOwner"


def test_leaves(client: httpx.Client) -> None:
    expected = {
        "instance-id": "i-0123456789abcdef0",
        "instance-type": "t3.micro",
        "local-hostname": "ip-172-31-16-25.ec2.internal",
        "local-ipv4": "172.31.16.25",
        "public-hostname": "ec2-54-1-2-3.compute-1.amazonaws.com",
        "public-ipv4": "54.1.2.3",
        "placement/availability-zone": "us-east-1a",
        "placement/availability-zone-id": "use1-az4",
        "placement/region": "us-east-1",
        "services/partition": "aws",
        "services/domain": "amazonaws.com",
        "instance-life-cycle": "on-demand",
        "security-groups": "awsme-demo\ndefault",
        "tags/instance/Name": "awsme-demo",
    }
    for path, value in expected.items():
        response = _meta(client, path)
        assert (response.status_code, response.text) == (200, value), path
        assert response.headers["content-type"].startswith("text/plain")


def test_network_interface(client: httpx.Client) -> None:
    mac = _meta(client, "mac").text
    assert _meta(client, "network/interfaces/macs/").text == mac + "/"
    interface = f"network/interfaces/macs/{mac}/"
    listing = _meta(client, interface).text.split("\n")
    assert {"vpc-id", "subnet-id", "security-group-ids", "local-ipv4s"} <= set(listing)
    assert _meta(client, interface + "local-ipv4s").text == "172.31.16.25"
    assert _meta(client, interface + "vpc-id").text.startswith("vpc-")


def test_iam_info_is_a_json_document(client: httpx.Client) -> None:
    info = _meta(client, "iam/info").json()
    assert info["Code"] == "Success"
    assert info["InstanceProfileArn"] == "arn:aws:iam::123456789012:instance-profile/awsme-demo"
    assert set(info) == {"Code", "LastUpdated", "InstanceProfileArn", "InstanceProfileId"}


@pytest.mark.parametrize(
    "path",
    [
        "/latest/meta-data/nothing",
        "/latest/meta-data/placement/nothing",
        "/latest/meta-data/instance-id/",
        "/latest/meta-data/instance-id/more",
        "/latest/meta-data//instance-id",
        "/latest/meta-data/spot/instance-action",
        "/latest/user-data",
        "/latest/dynamic/instance-identity/pkcs7",
        "/latest/dynamic/instance-identity/document/",
        "/nothing",
    ],
)
def test_missing_is_404(client: httpx.Client, path: str) -> None:
    assert client.get(path).status_code == 404


def test_other_methods_are_not_allowed(client: httpx.Client) -> None:
    assert client.post("/latest/meta-data/instance-id").status_code == 405


def _check_identity(http: httpx.Client) -> dict[str, Any]:
    doc: dict[str, Any] = http.get("/latest/dynamic/instance-identity/document").json()
    assert doc["imageId"] == _meta(http, "ami-id").text
    assert doc["instanceId"] == _meta(http, "instance-id").text
    assert doc["instanceType"] == _meta(http, "instance-type").text
    assert doc["privateIp"] == _meta(http, "local-ipv4").text
    assert doc["availabilityZone"] == _meta(http, "placement/availability-zone").text
    assert doc["region"] == _meta(http, "placement/region").text
    assert doc["version"] == "2017-09-30"
    for key in ("billingProducts", "devpayProductCodes", "marketplaceProductCodes", "kernelId"):
        assert doc[key] is None
    return doc


def test_identity_document_matches_meta_data(client: httpx.Client) -> None:
    doc = _check_identity(client)
    assert doc["accountId"] == "123456789012"
    assert doc["architecture"] == "x86_64"
    assert doc["pendingTime"].endswith("Z")
    assert doc["region"] == "us-east-1"


def test_identity_document_follows_an_edited_file(tmp_path: Path) -> None:
    raw = json.loads(DEFAULT_FILE.read_text(encoding="utf-8"))
    raw["account-id"] = "210987654321"
    raw["architecture"] = "arm64"
    meta = raw["meta-data"]
    meta["instance-id"] = "i-0fedcba9876543210"
    meta["instance-type"] = "m7g.large"
    meta["local-ipv4"] = "10.1.2.3"
    meta["placement"] = {"availability-zone": "eu-west-1b", "region": "eu-west-1"}
    path = tmp_path / "instance.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    data = load_instance_data(path)
    assert data.source == str(path)
    with serve(create_imds_app(data)) as server, _client(server.url) as http:
        doc = _check_identity(http)
        assert doc["accountId"] == "210987654321"
        assert doc["architecture"] == "arm64"
        assert doc["instanceId"] == "i-0fedcba9876543210"
        assert doc["region"] == "eu-west-1"
        assert _meta(http, "placement/").text == "availability-zone\nregion"


def test_dynamic_follows_token_rules(client: httpx.Client) -> None:
    client.post("/_sim/require-token", params={"enabled": "true"})
    assert client.get("/latest/dynamic/").status_code == 401
    token = _token(client)
    assert client.get("/latest/dynamic/", headers={TOKEN: token}).text == "instance-identity/"


# Triggers


def test_spot_via_control_api(client: httpx.Client) -> None:
    assert _meta(client, "spot/instance-action").status_code == 404
    state = client.post("/_sim/spot", params={"action": "stop", "in": "60"}).json()
    expected = {"action": "stop", "time": "2027-01-15T08:01:00Z"}
    assert state["spot"] == expected
    assert "spot/" in _meta(client, "").text.split("\n")
    assert _meta(client, "spot/instance-action").json() == expected
    assert _meta(client, "spot/termination-time").text == "2027-01-15T08:01:00Z"
    client.post("/_sim/spot", params={"action": "hibernate"})
    assert _meta(client, "spot/instance-action").json()["action"] == "hibernate"
    assert _meta(client, "spot/termination-time").status_code == 404
    assert client.delete("/_sim/spot").json()["spot"] is None
    assert _meta(client, "spot/instance-action").status_code == 404


def test_spot_at_construction(data: InstanceData, clock: FakeClock) -> None:
    app = create_imds_app(data, spot_action="terminate", spot_in=120, clock=clock)
    with serve(app) as server, _client(server.url) as http:
        action = _meta(http, "spot/instance-action").json()
        assert action == {"action": "terminate", "time": "2027-01-15T08:02:00Z"}


def test_maintenance_via_control_api(client: httpx.Client) -> None:
    assert _meta(client, "events/maintenance/scheduled").json() == []
    assert _meta(client, "events/").text == "maintenance/"
    client.post("/_sim/maintenance", params={"code": "system-reboot", "in": "86400"})
    client.post("/_sim/maintenance", params={"code": "instance-retirement", "in": "3600"})
    events = _meta(client, "events/maintenance/scheduled").json()
    assert [e["Code"] for e in events] == ["system-reboot", "instance-retirement"]
    for event in events:
        assert set(event) == {"Code", "Description", "EventId", "NotBefore", "NotAfter", "State"}
        assert event["EventId"].startswith("instance-event-")
        assert event["State"] == "active"
    assert events[0]["NotBefore"] == "16 Jan 2027 08:00:00 GMT"
    assert events[0]["NotAfter"] == "16 Jan 2027 10:00:00 GMT"
    assert events[0]["EventId"] != events[1]["EventId"]
    assert client.get("/_sim/state").json()["maintenance"] == events
    assert client.delete("/_sim/maintenance").json()["maintenance"] == []
    assert _meta(client, "events/maintenance/scheduled").json() == []


def test_maintenance_at_construction(data: InstanceData, clock: FakeClock) -> None:
    app = create_imds_app(data, maintenance_code="instance-stop", maintenance_in=60, clock=clock)
    with serve(app) as server, _client(server.url) as http:
        (event,) = _meta(http, "events/maintenance/scheduled").json()
        assert event["Code"] == "instance-stop"
        assert event["NotBefore"] == "15 Jan 2027 08:01:00 GMT"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"spot_action": "reboot"},
        {"spot_action": "stop", "spot_in": -1},
        {"maintenance_code": "bogus"},
        {"maintenance_code": "system-reboot", "maintenance_in": float("nan")},
        {"token_delay": -1},
    ],
)
def test_bad_constructor_arguments(data: InstanceData, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        create_imds_app(data, **kwargs)


def test_state(client: httpx.Client) -> None:
    _meta(client, "instance-id")
    assert client.get("/_sim/state").json() == {
        "require_token": False,
        "token_delay": 0.0,
        "spot": None,
        "maintenance": [],
        "requests": 1,
    }


def test_request_log(client: httpx.Client) -> None:
    token = _token(client)
    _meta(client, "instance-id", **{TOKEN: token})
    _meta(client, "placement/region")
    _meta(client, "nothing")
    client.get("/_sim/state")
    client.post("/_sim/spot")
    assert client.get("/_sim/requests").json() == [
        {"method": "PUT", "path": "/latest/api/token"},
        {"method": "GET", "path": "/latest/meta-data/instance-id"},
        {"method": "GET", "path": "/latest/meta-data/placement/region"},
        {"method": "GET", "path": "/latest/meta-data/nothing"},
    ]
    assert client.get("/_sim/state").json()["requests"] == 4
    assert client.delete("/_sim/requests").json()["requests"] == 0
    assert client.get("/_sim/requests").json() == []


def test_request_log_shows_credential_fetches(client: httpx.Client) -> None:
    """What lets other tests prove the app never asked for credentials."""
    assert "AccessKeyId" in _meta(client, "iam/security-credentials/awsme-demo").json()
    paths = [r["path"] for r in client.get("/_sim/requests").json()]
    assert any("iam/security-credentials" in p for p in paths)


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("POST", "/_sim/spot?action=reboot"),
        ("POST", "/_sim/spot?in=-1"),
        ("POST", "/_sim/spot?in=abc"),
        ("POST", "/_sim/spot?in=nan"),
        ("POST", "/_sim/spot?in=inf"),
        ("POST", "/_sim/spot?at=120"),
        ("POST", "/_sim/spot?in=1&in=2"),
        ("DELETE", "/_sim/spot?now=1"),
        ("POST", "/_sim/maintenance?code=reboot"),
        ("POST", "/_sim/maintenance?code=system-reboot&in=soon"),
        ("POST", "/_sim/require-token"),
        ("POST", "/_sim/require-token?enabled=yes"),
        ("POST", "/_sim/token-delay"),
        ("POST", "/_sim/token-delay?seconds=-0.5"),
        ("POST", "/_sim/token-delay?seconds=99999"),
        ("POST", "/_sim/token-delay?seconds="),
        ("GET", "/_sim/state?verbose=1"),
        ("GET", "/_sim/requests?limit=5"),
    ],
)
def test_bad_query_parameters(client: httpx.Client, method: str, url: str) -> None:
    response = client.request(method, url)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text and "\n" not in response.text
    # Nothing changed.
    assert client.get("/_sim/state").json() == {
        "require_token": False,
        "token_delay": 0.0,
        "spot": None,
        "maintenance": [],
        "requests": 0,
    }


def test_unknown_control_path_is_404(client: httpx.Client) -> None:
    assert client.get("/_sim/nothing").status_code == 404
