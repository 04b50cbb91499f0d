"""AzureSource against a loopback fake of Azure IMDS."""

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
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from awsme.metadata.azure import AzureSource
from awsme.metadata.model import MaintenanceEvent, MetadataError, SpotInterruption
from awsme.metadata.source import MetadataSource, make_http_client
from tests.loopback import LoopbackServer, serve

# The "Instance metadata" sample of the Azure IMDS documentation, api-version 2021-02-01
# (public keys, storage profile and security profile trimmed).
INSTANCE: dict[str, Any] = {
    "compute": {
        "azEnvironment": "AzurePublicCloud",
        "evictionPolicy": "",
        "isHostCompatibilityLayerVm": "false",
        "licenseType": "",
        "location": "westeurope",
        "name": "awsme-vm-1",
        "offer": "0001-com-ubuntu-server-jammy",
        "osProfile": {
            "adminUsername": "azureuser",
            "computerName": "awsme-vm-1",
            "disablePasswordAuthentication": "true",
        },
        "osType": "Linux",
        "placementGroupId": "",
        "plan": {"name": "", "product": "", "publisher": ""},
        "platformFaultDomain": "0",
        "platformUpdateDomain": "0",
        "priority": "Regular",
        "provider": "Microsoft.Compute",
        "publisher": "canonical",
        "resourceGroupName": "awsme-workshop-rg",
        "resourceId": (
            "/subscriptions/8d10da13-8125-4ba9-a717-bf7490507b3d/resourceGroups/"
            "awsme-workshop-rg/providers/Microsoft.Compute/virtualMachines/awsme-vm-1"
        ),
        "sku": "22_04-lts-gen2",
        "subscriptionId": "8d10da13-8125-4ba9-a717-bf7490507b3d",
        "tags": "env:workshop;team:platform",
        "tagsList": [
            {"name": "env", "value": "workshop"},
            {"name": "team", "value": "platform"},
        ],
        "userData": "",
        "version": "22.04.202401100",
        "vmId": "02aab8a4-74ef-476e-8182-f6d2ba4166a6",
        "vmScaleSetName": "",
        "vmSize": "Standard_B2s",
        "zone": "1",
    },
    "network": {
        "interface": [
            {
                "ipv4": {
                    "ipAddress": [
                        {"privateIpAddress": "10.0.0.4", "publicIpAddress": "20.61.15.7"}
                    ],
                    "subnet": [{"address": "10.0.0.0", "prefix": "24"}],
                },
                "ipv6": {"ipAddress": []},
                "macAddress": "000D3A4B5C6D",
            }
        ]
    },
}
# The "Scheduled Events" sample: a memory-preserving freeze for two VMs of a set.
FREEZE: dict[str, Any] = {
    "EventId": "602d9444-d2cd-49c7-8624-8643e7171297",
    "EventStatus": "Scheduled",
    "EventType": "Freeze",
    "ResourceType": "VirtualMachine",
    "Resources": ["awsme-vm-1", "awsme-vm-2"],
    "NotBefore": "Mon, 11 Apr 2022 22:26:58 GMT",
    "Description": "Virtual machine is being paused because of a memory-preserving Live Migration operation.",  # noqa: E501
    "EventSource": "Platform",
    "DurationInSeconds": 5,
}
PREEMPT: dict[str, Any] = {
    "EventId": "A123BC45-1234-5678-AB90-ABCDEF123456",
    "EventStatus": "Scheduled",
    "EventType": "Preempt",
    "ResourceType": "VirtualMachine",
    "Resources": ["awsme-vm-1"],
    "NotBefore": "Mon, 11 Apr 2022 22:27:28 GMT",
    "Description": "",
    "EventSource": "Platform",
    "DurationInSeconds": -1,
}
REBOOT_OTHER_VM: dict[str, Any] = {
    "EventId": "B23C45D6-2345-6789-BC01-BCDEF2345678",
    "EventStatus": "Scheduled",
    "EventType": "Reboot",
    "ResourceType": "VirtualMachine",
    "Resources": ["awsme-vm-2"],
    "NotBefore": "Mon, 11 Apr 2022 23:00:00 GMT",
    "Description": "",
    "EventSource": "User",
    "DurationInSeconds": -1,
}


class FakeImds:
    """Azure IMDS: demands `Metadata: true` and an api-version, like the real one."""

    def __init__(self) -> None:
        self.instance: dict[str, Any] = copy.deepcopy(INSTANCE)
        self.events: list[dict[str, Any]] = []
        self.refusal: str | None = None
        self.hang = False
        self.release = threading.Event()
        self.requests: list[tuple[str, str | None, str | None]] = []  # path, api, Metadata
        self.app = Starlette(
            routes=[
                Route("/metadata/instance", self.instance_doc),
                Route("/metadata/scheduledevents", self.scheduled_events),
            ]
        )

    async def instance_doc(self, request: Request) -> Response:
        return await self._answer(request, lambda: self.instance)

    async def scheduled_events(self, request: Request) -> Response:
        return await self._answer(
            request, lambda: {"DocumentIncarnation": 2, "Events": self.events}
        )

    async def _answer(self, request: Request, make: Any) -> Response:
        header = request.headers.get("metadata")
        api = request.query_params.get("api-version")
        self.requests.append((request.url.path, api, header))
        if self.hang:  # until the test is over: longer than any client timeout
            await asyncio.to_thread(self.release.wait, 10)
        if header != "true":
            return JSONResponse(
                {"error": "Bad request. Required metadata header not specified"}, 400
            )
        if not api or self.refusal:
            error = self.refusal or "Bad request. api-version was not specified in the request."
            return JSONResponse({"error": error, "newest-versions": ["2021-02-01"]}, 400)
        return JSONResponse(make())


@pytest.fixture
def fake() -> Iterator[FakeImds]:
    yield FakeImds()


@pytest.fixture
def server(fake: FakeImds) -> Iterator[LoopbackServer]:
    with serve(fake.app) as running:
        try:
            yield running
        finally:
            fake.release.set()


async def test_maps_every_field_and_sends_the_metadata_header(
    fake: FakeImds, server: LoopbackServer
) -> None:
    source = AzureSource(server.url)
    try:
        metadata = await source.fetch()
    finally:
        await source.aclose()

    assert metadata.source == "azure"
    assert metadata.provider == "azure"
    assert metadata.instance_id == "02aab8a4-74ef-476e-8182-f6d2ba4166a6"
    assert metadata.instance_type == "Standard_B2s"
    assert metadata.region == "westeurope"
    assert metadata.zone == "westeurope-1"
    assert metadata.account_id == "8d10da13-8125-4ba9-a717-bf7490507b3d"
    assert metadata.project == "awsme-workshop-rg"
    assert metadata.lifecycle == "regular"
    assert metadata.local_hostname == "awsme-vm-1"
    assert metadata.tags == {"env": "workshop", "team": "platform"}
    assert metadata.local_ipv4 == "10.0.0.4"
    assert metadata.public_ipv4 == "20.61.15.7"
    assert metadata.mac == "00:0d:3a:4b:5c:6d"
    assert (
        metadata.image_id == "canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:22.04.202401100"
    )
    assert metadata.local is False
    assert fake.requests == [("/metadata/instance", "2021-02-01", "true")]


async def test_spot_vm_without_zone_or_public_ip(fake: FakeImds, server: LoopbackServer) -> None:
    fake.instance["compute"].update(priority="Spot", zone="", tagsList=[])
    fake.instance["network"]["interface"][0]["ipv4"]["ipAddress"][0]["publicIpAddress"] = ""
    source = AzureSource(server.url)
    try:
        metadata = await source.fetch()
    finally:
        await source.aclose()

    assert metadata.lifecycle == "spot"
    assert metadata.zone is None
    assert metadata.region == "westeurope"
    assert metadata.public_ipv4 is None
    assert metadata.tags == {}


async def test_missing_network_leaves_addresses_none(
    fake: FakeImds, server: LoopbackServer
) -> None:
    del fake.instance["network"]
    source = AzureSource(server.url)
    try:
        metadata = await source.fetch()
    finally:
        await source.aclose()
    assert metadata.local_ipv4 is None
    assert metadata.mac is None
    assert metadata.instance_id == "02aab8a4-74ef-476e-8182-f6d2ba4166a6"


async def test_imds_refusal_is_explained(fake: FakeImds, server: LoopbackServer) -> None:
    # What IMDS says to an api-version it does not support (an old region, say).
    fake.refusal = "Bad request. api-version is invalid or was not specified in the request."
    source = AzureSource(server.url)
    try:
        with pytest.raises(MetadataError, match=r"HTTP 400: Bad request\. api-version is invalid"):
            await source.fetch()
    finally:
        await source.aclose()


async def test_no_events(fake: FakeImds, server: LoopbackServer) -> None:
    source = AzureSource(server.url)
    try:
        events = await source.fetch_events()
    finally:
        await source.aclose()
    assert events.spot_interruption is None
    assert events.maintenance == ()
    assert fake.requests == [("/metadata/scheduledevents", "2020-07-01", "true")]


async def test_events_for_this_vm(fake: FakeImds, server: LoopbackServer) -> None:
    fake.events = [FREEZE, PREEMPT, REBOOT_OTHER_VM]
    source: MetadataSource = AzureSource(server.url)
    try:
        await source.fetch()  # learns the VM's name, to skip its neighbours' events
        events = await source.fetch_events()
    finally:
        await source.aclose()

    assert events.spot_interruption == SpotInterruption(
        action="terminate", time="2022-04-11T22:27:28Z"
    )
    assert events.maintenance == (
        MaintenanceEvent(
            code="Freeze",
            description=FREEZE["Description"],
            state="Scheduled",
            not_before="2022-04-11T22:26:58Z",
            event_id="602d9444-d2cd-49c7-8624-8643e7171297",
        ),
    )


async def test_events_before_fetch_are_all_shown(fake: FakeImds, server: LoopbackServer) -> None:
    started = dict(REBOOT_OTHER_VM, EventStatus="Started", NotBefore="")
    fake.events = [started]
    source = AzureSource(server.url)
    try:
        events = await source.fetch_events()
    finally:
        await source.aclose()
    assert len(events.maintenance) == 1
    assert events.maintenance[0].code == "Reboot"
    assert events.maintenance[0].state == "Started"
    assert events.maintenance[0].not_before is None
    assert events.maintenance[0].description == "Reboot scheduled"


async def test_hanging_server_times_out(fake: FakeImds, server: LoopbackServer) -> None:
    fake.hang = True
    client = make_http_client(server.url, read_timeout=0.3)
    source = AzureSource(server.url, client=client)
    started = time.monotonic()
    try:
        with pytest.raises(MetadataError, match="did not answer in time"):
            await source.fetch()
    finally:
        await source.aclose()
        await client.aclose()
    assert time.monotonic() - started < 2
