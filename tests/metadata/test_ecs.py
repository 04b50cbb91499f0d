"""EcsSource against a loopback fake of the ECS task metadata endpoint v4."""

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

from awsme.metadata.ecs import EcsSource
from awsme.metadata.model import NO_EVENTS, MetadataError
from awsme.metadata.source import MetadataSource, make_http_client
from tests.loopback import LoopbackServer, serve

# Shapes from the "Task metadata endpoint version 4 examples for tasks on Fargate" page.
FARGATE_CONTAINER: dict[str, Any] = {
    "DockerId": "cd189a933e5849daa93386466019ab50-2495160603",
    "Name": "curl",
    "DockerName": "curl",
    "Image": "111122223333.dkr.ecr.us-west-2.amazonaws.com/curltest:latest",
    "ImageID": "sha256:25f3695bedfb454a50f12d127839a68ad3caf91e451c1da073db34c542c4d2cb",
    "Labels": {
        "com.amazonaws.ecs.cluster": "arn:aws:ecs:us-west-2:111122223333:cluster/default",
        "com.amazonaws.ecs.container-name": "curl",
        "com.amazonaws.ecs.task-arn": (
            "arn:aws:ecs:us-west-2:111122223333:task/default/cd189a933e5849daa93386466019ab50"
        ),
        "com.amazonaws.ecs.task-definition-family": "curltest",
        "com.amazonaws.ecs.task-definition-version": "2",
    },
    "DesiredStatus": "RUNNING",
    "KnownStatus": "RUNNING",
    "Limits": {"CPU": 10, "Memory": 128},
    "CreatedAt": "2020-10-08T20:09:11.44527186Z",
    "StartedAt": "2020-10-08T20:09:11.44527186Z",
    "Type": "NORMAL",
    "Networks": [
        {
            "NetworkMode": "awsvpc",
            "IPv4Addresses": ["192.0.2.3"],
            "AttachmentIndex": 0,
            "MACAddress": "0a:de:f6:10:51:e5",
            "IPv4SubnetCIDRBlock": "192.0.2.0/24",
            "DomainNameServers": ["192.0.2.2"],
            "DomainNameSearchList": ["us-west-2.compute.internal"],
            "PrivateDNSName": "ip-10-0-0-222.us-west-2.compute.internal",
            "SubnetGatewayIpv4Address": "192.0.2.0/24",
        }
    ],
    "ContainerARN": (
        "arn:aws:ecs:us-west-2:111122223333:container/05966557-f16c-49cb-9352-24b3a0dcd0e1"
    ),
    "LogOptions": {
        "awslogs-create-group": "true",
        "awslogs-group": "/ecs/containerlogs",
        "awslogs-region": "us-west-2",
        "awslogs-stream": "ecs/curl/cd189a933e5849daa93386466019ab50",
    },
    "LogDriver": "awslogs",
}
FARGATE_TASK: dict[str, Any] = {
    "Cluster": "arn:aws:ecs:us-west-2:111122223333:cluster/default",
    "TaskARN": "arn:aws:ecs:us-west-2:111122223333:task/default/cd189a933e5849daa93386466019ab50",
    "Family": "curltest",
    "Revision": "2",
    "DesiredStatus": "RUNNING",
    "KnownStatus": "RUNNING",
    "Limits": {"CPU": 0.25, "Memory": 512},
    "PullStartedAt": "2020-10-08T20:47:16.053330955Z",
    "PullStoppedAt": "2020-10-08T20:47:19.592684631Z",
    "AvailabilityZone": "us-west-2a",
    "Containers": [FARGATE_CONTAINER],
    "LaunchType": "FARGATE",
    "ClockDrift": {
        "ClockErrorBound": 0.5458,
        "ReferenceTimestamp": "2021-09-07T16:57:44Z",
        "ClockSynchronizationStatus": "SYNCHRONIZED",
    },
    "EphemeralStorageMetrics": {"Utilized": 261, "Reserved": 20496},
}
# The EC2 launch type in bridge mode: short cluster name, Docker's 64-hex id.
EC2_CONTAINER: dict[str, Any] = {
    "DockerId": "ea32192c8553fbff06c9340478a2ff089b2bb5646fb718b4ee206641c9086d66",
    "Name": "awsme",
    "DockerName": "ecs-awsme-24-awsme-cca48e8dcadd97805600",
    "Image": "public.ecr.aws/example/awsme:2.0.0",
    "Limits": {"CPU": 256, "Memory": 512},
    "Networks": [{"NetworkMode": "bridge", "IPv4Addresses": ["172.17.0.2"]}],
}
EC2_TASK: dict[str, Any] = {
    "Cluster": "workshop",
    "TaskARN": "arn:aws:ecs:eu-west-1:444455556666:task/workshop/158d1c8083dd49d6b527399fd6414f5c",
    "Family": "awsme",
    "Revision": "24",
    "AvailabilityZone": "eu-west-1b",
    "LaunchType": "EC2",
}


class FakeEcs:
    """The ECS agent's endpoint for one container, with switches for failure modes."""

    def __init__(self) -> None:
        self.container: dict[str, Any] | None = copy.deepcopy(FARGATE_CONTAINER)
        self.task: dict[str, Any] | None = copy.deepcopy(FARGATE_TASK)
        self.status = 200
        self.hang = False
        self.release = threading.Event()
        self.paths: list[str] = []
        self.app = Starlette(
            routes=[
                Route("/v4/{container}", self.answer_container),
                Route("/v4/{container}/task", self.answer_task),
            ]
        )

    async def answer_container(self, request: Request) -> Response:
        return await self._answer(request, self.container)

    async def answer_task(self, request: Request) -> Response:
        return await self._answer(request, self.task)

    async def _answer(self, request: Request, doc: dict[str, Any] | None) -> Response:
        self.paths.append(request.url.path)
        if self.hang:  # until the test is over: longer than any client timeout
            await asyncio.to_thread(self.release.wait, 10)
        if self.status != 200:
            return PlainTextResponse("internal error", status_code=self.status)
        if doc is None:
            return PlainTextResponse("404 page not found", status_code=404)
        return JSONResponse(doc)


@pytest.fixture
def fake() -> Iterator[FakeEcs]:
    yield FakeEcs()


@pytest.fixture
def server(fake: FakeEcs) -> Iterator[LoopbackServer]:
    with serve(fake.app) as running:
        try:
            yield running
        finally:
            fake.release.set()


def base_url(server: LoopbackServer) -> str:
    return f"{server.url}/v4/cd189a933e5849daa93386466019ab50-2495160603"


async def test_fargate_task_maps_every_field(fake: FakeEcs, server: LoopbackServer) -> None:
    source = EcsSource(base_url(server))
    try:
        metadata = await source.fetch()
    finally:
        await source.aclose()

    assert metadata.source == "ecs"
    assert metadata.provider == "aws"
    assert metadata.project == "aws"
    assert metadata.cluster == "default"  # the short name, not the ARN
    assert metadata.task_arn == FARGATE_TASK["TaskARN"]
    assert metadata.task_family == "curltest"
    assert metadata.task_revision == "2"
    assert metadata.launch_type == "FARGATE"
    assert metadata.zone == "us-west-2a"
    assert metadata.region == "us-west-2"
    assert metadata.partition == "aws"
    assert metadata.account_id == "111122223333"
    assert metadata.container_id == "cd189a933e5849daa93386466019ab50-2495160603"
    assert metadata.container_name == "curl"
    assert metadata.container_image == FARGATE_CONTAINER["Image"]
    assert metadata.local_ipv4 == "192.0.2.3"
    assert metadata.local_hostname == "ip-10-0-0-222.us-west-2.compute.internal"
    assert metadata.mac == "0a:de:f6:10:51:e5"
    assert metadata.instance_id is None
    assert metadata.local is False
    assert sorted(fake.paths) == sorted(
        [
            "/v4/cd189a933e5849daa93386466019ab50-2495160603",
            "/v4/cd189a933e5849daa93386466019ab50-2495160603/task",
        ]
    )


async def test_ec2_launch_type_in_bridge_mode(fake: FakeEcs, server: LoopbackServer) -> None:
    fake.container, fake.task = EC2_CONTAINER, EC2_TASK
    source = EcsSource(base_url(server) + "/")  # a trailing slash is tolerated
    try:
        metadata = await source.fetch()
    finally:
        await source.aclose()

    assert metadata.cluster == "workshop"
    assert metadata.launch_type == "EC2"
    assert metadata.region == "eu-west-1"
    assert metadata.account_id == "444455556666"
    assert metadata.container_id == EC2_CONTAINER["DockerId"]
    assert metadata.local_ipv4 == "172.17.0.2"
    assert metadata.local_hostname is None
    assert metadata.mac is None


async def test_region_comes_from_the_zone_without_an_arn(
    fake: FakeEcs, server: LoopbackServer
) -> None:
    fake.task = {"Cluster": "workshop", "AvailabilityZone": "us-west-2-lax-1a", "LaunchType": "EC2"}
    source = EcsSource(base_url(server))
    try:
        metadata = await source.fetch()
    finally:
        await source.aclose()

    assert metadata.region == "us-west-2"
    assert metadata.zone == "us-west-2-lax-1a"
    assert metadata.account_id is None
    assert metadata.task_arn is None


async def test_missing_task_document_leaves_task_fields_none(
    fake: FakeEcs, server: LoopbackServer
) -> None:
    fake.task = None
    source = EcsSource(base_url(server))
    try:
        metadata = await source.fetch()
    finally:
        await source.aclose()

    assert metadata.container_name == "curl"
    assert metadata.local_ipv4 == "192.0.2.3"
    assert metadata.cluster is None
    assert metadata.task_arn is None
    assert metadata.zone is None
    assert metadata.region is None


async def test_missing_networks_leave_addresses_none(fake: FakeEcs, server: LoopbackServer) -> None:
    assert fake.container is not None
    del fake.container["Networks"]
    source = EcsSource(base_url(server))
    try:
        metadata = await source.fetch()
    finally:
        await source.aclose()

    assert metadata.local_ipv4 is None
    assert metadata.mac is None
    assert metadata.cluster == "default"


async def test_nothing_at_the_url_is_an_error(fake: FakeEcs, server: LoopbackServer) -> None:
    fake.container = fake.task = None
    source = EcsSource(base_url(server))
    try:
        with pytest.raises(MetadataError, match="ECS_CONTAINER_METADATA_URI_V4"):
            await source.fetch()
    finally:
        await source.aclose()


async def test_server_error_is_a_metadata_error(fake: FakeEcs, server: LoopbackServer) -> None:
    fake.status = 500
    source = EcsSource(base_url(server))
    try:
        with pytest.raises(MetadataError, match="HTTP 500"):
            await source.fetch()
    finally:
        await source.aclose()


async def test_hanging_endpoint_times_out(fake: FakeEcs, server: LoopbackServer) -> None:
    fake.hang = True
    client = make_http_client(server.url, read_timeout=0.3)
    source = EcsSource(base_url(server), client=client)
    started = time.monotonic()
    try:
        with pytest.raises(MetadataError, match="did not answer in time"):
            await source.fetch()
    finally:
        await source.aclose()
        await client.aclose()
    assert time.monotonic() - started < 2


async def test_no_events_and_the_source_owns_its_client(server: LoopbackServer) -> None:
    client = make_http_client(server.url)
    source: MetadataSource = EcsSource(base_url(server), client=client)
    assert source.name == "ecs"
    assert await source.fetch_events() == NO_EVENTS
    await source.aclose()
    assert client.is_closed  # handed over: the source closes it with itself

    own = EcsSource(base_url(server))
    await own.aclose()
    with pytest.raises(RuntimeError, match="closed"):  # httpx refuses a closed client
        await own.fetch()
