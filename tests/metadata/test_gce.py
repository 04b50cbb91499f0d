"""GceSource against a loopback fake of the GCE metadata server."""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from awsme.metadata.gce import DEFAULT_BASE_URL, GceSource, gce_base_url
from awsme.metadata.model import MaintenanceEvent, MetadataError
from awsme.metadata.source import MetadataSource, make_http_client
from tests.loopback import LoopbackServer, serve

# What `curl -H Metadata-Flavor:Google .../instance/?recursive=true` prints on an
# e2-medium (service account scopes and disks trimmed).
INSTANCE: dict[str, Any] = {
    "attributes": {"enable-oslogin": "TRUE"},
    "cpuPlatform": "Intel Broadwell",
    "description": "",
    "disks": [{"deviceName": "instance-1", "index": 0, "mode": "READ_WRITE", "type": "PERSISTENT"}],
    "guestAttributes": {},
    "hostname": "instance-1.us-central1-a.c.awsme-workshop.internal",
    "id": 4520031799277581759,
    "image": "projects/debian-cloud/global/images/debian-12-bookworm-v20240110",
    "licenses": [{"id": "2147286739765738111"}],
    "machineType": "projects/123456789012/machineTypes/e2-medium",
    "maintenanceEvent": "NONE",
    "name": "instance-1",
    "networkInterfaces": [
        {
            "accessConfigs": [{"externalIp": "34.123.45.67", "type": "ONE_TO_ONE_NAT"}],
            "dnsServers": ["169.254.169.254"],  # data the fake serves, never contacted
            "forwardedIps": [],
            "gateway": "10.128.0.1",
            "ip": "10.128.0.2",
            "ipAliases": [],
            "mac": "42:01:0a:80:00:02",
            "mtu": 1460,
            "network": "projects/123456789012/networks/default",
            "subnetmask": "255.255.240.0",
            "targetInstanceIps": [],
        }
    ],
    "preempted": "FALSE",
    "remainingCpuTime": -1,
    "scheduling": {
        "automaticRestart": "TRUE",
        "onHostMaintenance": "MIGRATE",
        "preemptible": "FALSE",
    },
    "serviceAccounts": {
        "default": {
            "aliases": ["default"],
            "email": "123456789012-compute@developer.gserviceaccount.com",
            "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
        }
    },
    "tags": ["http-server", "https-server"],
    "virtualClock": {"driftToken": "0"},
    "zone": "projects/123456789012/zones/us-central1-a",
}
PREFIX = "/computeMetadata/v1"


class FakeGce:
    """The metadata server: demands Metadata-Flavor: Google and answers with it."""

    def __init__(self) -> None:
        self.instance: dict[str, Any] = copy.deepcopy(INSTANCE)
        self.project: str | None = "awsme-workshop"
        self.maintenance = "NONE"
        self.preempted = "FALSE"
        self.flavor_header = True  # False: some other server on that address
        self.hang = False
        self.release = threading.Event()
        self.requests: list[tuple[str, str | None]] = []  # path, Metadata-Flavor received
        self.app = Starlette(
            routes=[
                Route(f"{PREFIX}/instance/", self.instance_doc),
                Route(f"{PREFIX}/project/project-id", self.project_id),
                Route(f"{PREFIX}/instance/maintenance-event", self.maintenance_event),
                Route(f"{PREFIX}/instance/preempted", self.preempted_flag),
            ]
        )

    async def instance_doc(self, request: Request) -> Response:
        assert request.query_params.get("recursive") == "true"
        return await self._answer(request, lambda: JSONResponse(self.instance))

    async def project_id(self, request: Request) -> Response:
        project = self.project
        if project is None:
            return await self._answer(request, lambda: PlainTextResponse("", 404))
        return await self._answer(request, lambda: PlainTextResponse(project))

    async def maintenance_event(self, request: Request) -> Response:
        return await self._answer(request, lambda: PlainTextResponse(self.maintenance))

    async def preempted_flag(self, request: Request) -> Response:
        return await self._answer(request, lambda: PlainTextResponse(self.preempted))

    async def _answer(self, request: Request, make: Any) -> Response:
        flavor = request.headers.get("metadata-flavor")
        self.requests.append((request.url.path, flavor))
        if self.hang:  # until the test is over: longer than any client timeout
            await asyncio.to_thread(self.release.wait, 10)
        if flavor != "Google":
            response: Response = PlainTextResponse(
                "Your client does not have permission to get URL from this server. "
                "Missing Metadata-Flavor:Google header.",
                403,
            )
        else:
            response = make()
        if self.flavor_header:
            response.headers["Metadata-Flavor"] = "Google"
        return response


@pytest.fixture
def fake() -> Iterator[FakeGce]:
    yield FakeGce()


@pytest.fixture
def server(fake: FakeGce) -> Iterator[LoopbackServer]:
    with serve(fake.app) as running:
        try:
            yield running
        finally:
            fake.release.set()


def test_base_url_honours_gce_metadata_host() -> None:
    # Only the default is compared: every source in this file talks to a loopback fake.
    assert gce_base_url({}) == DEFAULT_BASE_URL == "http://metadata.google.internal"
    assert gce_base_url({"GCE_METADATA_HOST": "127.0.0.1:8080"}) == "http://127.0.0.1:8080"
    assert gce_base_url({"GCE_METADATA_HOST": "localhost"}) == "http://localhost"
    assert gce_base_url({"GCE_METADATA_HOST": ""}) == DEFAULT_BASE_URL


async def test_maps_every_field_and_sends_the_flavor_header(
    fake: FakeGce, server: LoopbackServer
) -> None:
    source = GceSource(gce_base_url({"GCE_METADATA_HOST": server.url.removeprefix("http://")}))
    try:
        metadata = await source.fetch()
    finally:
        await source.aclose()

    assert metadata.source == "gce"
    assert metadata.provider == "gcp"
    assert metadata.instance_id == "4520031799277581759"  # exact: no float rounding
    assert metadata.local_hostname == "instance-1.us-central1-a.c.awsme-workshop.internal"
    assert metadata.zone == "us-central1-a"
    assert metadata.region == "us-central1"
    assert metadata.instance_type == "e2-medium"
    assert metadata.image_id == "projects/debian-cloud/global/images/debian-12-bookworm-v20240110"
    assert metadata.local_ipv4 == "10.128.0.2"
    assert metadata.public_ipv4 == "34.123.45.67"
    assert metadata.mac == "42:01:0a:80:00:02"
    assert metadata.lifecycle == "regular"
    assert metadata.tags == {"http-server": "", "https-server": ""}
    assert metadata.project == "awsme-workshop"
    assert metadata.local is False
    assert sorted(fake.requests) == [
        (f"{PREFIX}/instance/", "Google"),
        (f"{PREFIX}/project/project-id", "Google"),
    ]


async def test_spot_vm_without_external_ip_or_project(
    fake: FakeGce, server: LoopbackServer
) -> None:
    fake.instance["scheduling"] = {
        "automaticRestart": "FALSE",
        "onHostMaintenance": "TERMINATE",
        "preemptible": "TRUE",
        "provisioningModel": "SPOT",
    }
    fake.instance["networkInterfaces"][0]["accessConfigs"] = []
    del fake.instance["tags"]
    del fake.instance["hostname"]
    fake.project = None
    source = GceSource(server.url)
    try:
        metadata = await source.fetch()
    finally:
        await source.aclose()

    assert metadata.lifecycle == "spot"
    assert metadata.public_ipv4 is None
    assert metadata.tags == {}
    assert metadata.project is None
    assert metadata.local_hostname == "instance-1"  # the name when there is no hostname


async def test_a_client_without_default_headers_still_sends_the_flavor(
    fake: FakeGce, server: LoopbackServer
) -> None:
    client = make_http_client(server.url)
    source = GceSource(server.url, client=client)
    try:
        await source.fetch_events()
    finally:
        await source.aclose()
        await client.aclose()
    assert {flavor for _, flavor in fake.requests} == {"Google"}


async def test_answer_without_flavor_header_is_not_gce(
    fake: FakeGce, server: LoopbackServer
) -> None:
    fake.flavor_header = False
    source = GceSource(server.url)
    try:
        with pytest.raises(MetadataError, match="not a GCE metadata server"):
            await source.fetch()
    finally:
        await source.aclose()


async def test_no_events(fake: FakeGce, server: LoopbackServer) -> None:
    source = GceSource(server.url)
    try:
        events = await source.fetch_events()
    finally:
        await source.aclose()
    assert events.spot_interruption is None
    assert events.maintenance == ()
    assert {path for path, _ in fake.requests} == {
        f"{PREFIX}/instance/maintenance-event",
        f"{PREFIX}/instance/preempted",
    }


async def test_maintenance_and_preemption(fake: FakeGce, server: LoopbackServer) -> None:
    fake.maintenance = "TERMINATE_ON_HOST_MAINTENANCE"
    fake.preempted = "TRUE"
    source: MetadataSource = GceSource(server.url)
    try:
        events = await source.fetch_events()
    finally:
        await source.aclose()
    assert events.spot_interruption is not None
    assert events.spot_interruption.action == "terminate"
    assert events.spot_interruption.time.endswith("Z")
    assert events.maintenance == (
        MaintenanceEvent(
            code="TERMINATE_ON_HOST_MAINTENANCE",
            description="the VM will be stopped for host maintenance",
        ),
    )


async def test_hanging_server_times_out(fake: FakeGce, server: LoopbackServer) -> None:
    fake.hang = True
    client = make_http_client(server.url, read_timeout=0.3)
    source = GceSource(server.url, client=client)
    started = time.monotonic()
    try:
        with pytest.raises(MetadataError, match="did not answer in time"):
            await source.fetch_events()
    finally:
        await source.aclose()
        await client.aclose()
    assert time.monotonic() - started < 2
