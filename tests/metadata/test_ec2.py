"""The EC2 source against the real simulator on loopback."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from awsme.metadata.ec2 import TOKEN_TTL_SECONDS, Ec2Source, check_path, normalise_path
from awsme.metadata.model import MetadataError
from tests.conftest import RunningSimulator
from tests.loopback import serve


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def token_puts(simulator: RunningSimulator) -> int:
    return sum(1 for r in simulator.state.requests if r["method"] == "PUT")


async def test_reads_every_field_with_imdsv2(simulator: RunningSimulator) -> None:
    source = Ec2Source(simulator.url)
    try:
        meta = await source.fetch()
    finally:
        await source.aclose()
    assert meta.source == "ec2" and meta.provider == "aws"
    assert meta.instance_id == "i-0123456789abcdef0"
    assert meta.instance_type == "t3.micro"
    assert meta.image_id and meta.image_id.startswith("ami-")
    assert meta.local_hostname == "ip-172-31-16-25.ec2.internal"
    assert meta.public_hostname == "ec2-54-1-2-3.compute-1.amazonaws.com"
    assert (meta.local_ipv4, meta.public_ipv4) == ("172.31.16.25", "54.1.2.3")
    assert (meta.zone, meta.zone_id, meta.region) == ("us-east-1a", "use1-az4", "us-east-1")
    assert meta.partition == "aws"
    assert meta.mac and meta.vpc_id and meta.vpc_id.startswith("vpc-")
    assert meta.subnet_id and meta.subnet_id.startswith("subnet-")
    assert "default" in meta.security_groups
    assert meta.lifecycle == "on-demand"
    assert meta.account_id == "123456789012"
    assert meta.instance_profile_arn == "arn:aws:iam::123456789012:instance-profile/awsme-demo"
    assert meta.tags["Name"] == "awsme-demo"
    assert meta.imds_version == "v2"
    assert meta.notice is None
    # Every request carried a token, and none asked for credentials.
    assert not [p for p in simulator.paths() if "credentials" in p]


async def test_token_is_reused_then_renewed_before_expiry(simulator: RunningSimulator) -> None:
    clock = FakeClock()
    source = Ec2Source(simulator.url, clock=clock)
    try:
        await source.fetch()
        await source.fetch_events()
        await source.fetch()
        assert token_puts(simulator) == 1
        clock.now += TOKEN_TTL_SECONDS - 30  # inside the renewal margin
        await source.fetch_events()
        assert token_puts(simulator) == 2
    finally:
        await source.aclose()


async def test_expired_token_is_replaced_after_a_401(simulator: RunningSimulator) -> None:
    source = Ec2Source(simulator.url)
    try:
        await source.fetch()
        simulator.state.tokens.clear()  # as if the service had restarted
        meta = await source.fetch()
    finally:
        await source.aclose()
    assert meta.instance_id and meta.imds_version == "v2"
    assert token_puts(simulator) == 2


def refusing_token_requests(app: Any, status: int) -> Any:
    """The simulator, except that the token PUT is refused with `status`."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "PUT":
            await send({"type": "http.response.start", "status": status, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await app(scope, receive, send)

    return wrapped


@pytest.mark.parametrize("status", [403, 404, 405])
async def test_falls_back_to_v1_when_tokens_are_refused(
    simulator: RunningSimulator, status: int
) -> None:
    with serve(refusing_token_requests(simulator.app, status)) as fake:
        source = Ec2Source(fake.url)
        try:
            meta = await source.fetch()
        finally:
            await source.aclose()
    assert meta.instance_id == "i-0123456789abcdef0"
    assert meta.imds_version == "v1"
    assert meta.notice == f"IMDS v1 (token refused: {status})"


async def test_v1_fallback_refused_when_v1_is_disabled(simulator: RunningSimulator) -> None:
    with serve(refusing_token_requests(simulator.app, 403)) as fake:
        source = Ec2Source(fake.url, allow_v1=False)
        try:
            with pytest.raises(MetadataError, match="IMDSv1 is disabled"):
                await source.fetch()
        finally:
            await source.aclose()


async def test_hanging_token_request_explains_the_hop_limit(simulator_factory: Any) -> None:
    simulator = simulator_factory(token_delay=30)
    source = Ec2Source(simulator.url, token_timeout=0.3)
    started = time.monotonic()
    try:
        meta = await source.fetch()
    finally:
        await source.aclose()
    assert time.monotonic() - started < 5
    assert meta.imds_version == "v1"
    assert meta.notice and meta.notice.startswith("IMDS v1 (token request to ")
    assert "HttpPutResponseHopLimit" in meta.notice
    assert "--http-put-response-hop-limit 2" in meta.notice


async def test_hanging_token_request_with_v1_disabled_fails_with_the_hint(
    simulator_factory: Any,
) -> None:
    simulator = simulator_factory(token_delay=30)
    source = Ec2Source(simulator.url, token_timeout=0.3, allow_v1=False)
    try:
        with pytest.raises(MetadataError, match="HttpPutResponseHopLimit"):
            await source.fetch()
    finally:
        await source.aclose()


async def test_tokens_required_by_the_service_are_used(simulator_factory: Any) -> None:
    simulator = simulator_factory(require_token=True)
    source = Ec2Source(simulator.url)
    try:
        meta = await source.fetch()
    finally:
        await source.aclose()
    assert meta.imds_version == "v2" and meta.instance_id


async def test_optional_items_missing_are_none(simulator_factory: Any, tmp_path: Any) -> None:
    import json
    from importlib import resources

    data = json.loads(resources.files("awsme.imds").joinpath("default-instance.json").read_text())
    meta_data = data["meta-data"]
    for key in ("public-ipv4", "public-hostname", "tags", "iam", "instance-life-cycle"):
        meta_data.pop(key, None)
    path = tmp_path / "instance.json"
    path.write_text(json.dumps(data))
    simulator = simulator_factory(data_path=path)
    source = Ec2Source(simulator.url)
    try:
        meta = await source.fetch()
    finally:
        await source.aclose()
    assert meta.instance_id == "i-0123456789abcdef0"
    assert meta.public_ipv4 is None and meta.public_hostname is None
    assert meta.tags == {} and meta.instance_profile_arn is None and meta.lifecycle is None


async def test_spot_interruption_and_maintenance_events(simulator: RunningSimulator) -> None:
    source = Ec2Source(simulator.url)
    try:
        assert (await source.fetch_events()).spot_interruption is None
        async with httpx.AsyncClient(base_url=simulator.url) as control:
            await control.post("/_sim/spot", params={"action": "stop", "in": "120"})
            await control.post("/_sim/maintenance", params={"code": "system-reboot"})
        events = await source.fetch_events()
    finally:
        await source.aclose()
    assert events.spot_interruption and events.spot_interruption.action == "stop"
    assert events.spot_interruption.time.endswith("Z")
    assert [event.code for event in events.maintenance] == ["system-reboot"]


async def test_never_requests_credentials() -> None:
    source = Ec2Source("http://127.0.0.1:9")
    try:
        for path in ("meta-data/iam/security-credentials/role", "meta-data/identity-credentials/x"):
            with pytest.raises(MetadataError, match="never reads credentials"):
                await source._get(path)
    finally:
        await source.aclose()


HOSTILE_TAG = "../../iam/security-credentials/awsme-demo"


def listing_a_hostile_tag(app: Any) -> Any:
    """The simulator, except that its tag listing names a key that climbs out of
    tags/ into the credentials, as a tag key set by anyone who may tag the instance."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/latest/meta-data/tags/instance/":
            body = f"Name\n{HOSTILE_TAG}\nteam".encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

    return wrapped


async def test_a_tag_key_never_leads_to_the_credentials(simulator: RunningSimulator) -> None:
    with serve(listing_a_hostile_tag(simulator.app)) as fake:
        source = Ec2Source(fake.url)
        try:
            meta = await source.fetch()
        finally:
            await source.aclose()
    assert not [path for path in simulator.paths() if "credentials" in path]
    assert meta.instance_id == "i-0123456789abcdef0"  # the rest of the metadata is intact
    assert meta.tags["Name"] == "awsme-demo" and HOSTILE_TAG not in meta.tags


@pytest.mark.parametrize(
    "path",
    [
        "meta-data/tags/instance/../../iam/security-credentials/x",
        "meta-data/./iam/security-credentials/",
        "meta-data//iam/security-credentials/x",
        "meta-data/tags/instance/%2e%2e/%2e%2e/iam/security-credentials/x",
        "meta-data/tags/instance/..",
        "/meta-data/instance-id",
        "meta-data/instance-id?x=../../iam",
    ],
)
def test_paths_that_are_not_normalised_are_refused(path: str) -> None:
    with pytest.raises(MetadataError, match="refused a metadata path"):
        check_path(path)


def test_normalised_paths_pass_the_guard() -> None:
    for path in ("meta-data/instance-id", "meta-data/tags/instance/", "meta-data/iam/info"):
        assert check_path(path) == path
    assert normalise_path("meta-data/tags/instance/../../iam/x") == "meta-data/iam/x"
