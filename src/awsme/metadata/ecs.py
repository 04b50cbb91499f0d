"""The ECS task metadata endpoint, version 4 (ECS_CONTAINER_METADATA_URI_V4).

The agent serves it per container on a link-local address (169.254.170.2 on EC2,
a different one on Fargate); the URL always comes from the environment.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, TypedDict, cast

import httpx

from awsme.metadata.model import NO_EVENTS, InstanceEvents, InstanceMetadata, MetadataError
from awsme.metadata.source import make_http_client
from awsme.metadata.values import text_or_none

ENV_VAR = "ECS_CONTAINER_METADATA_URI_V4"

# "us-west-2a" -> "us-west-2"; also Local Zones ("us-west-2-lax-1a") and GovCloud.
_REGION_FROM_ZONE = re.compile(r"^([a-z]{2}(?:-[a-z]+)+-\d+)")


class _Network(TypedDict, total=False):
    NetworkMode: str
    IPv4Addresses: list[str]
    MACAddress: str
    PrivateDNSName: str


class _Container(TypedDict, total=False):
    DockerId: str
    Name: str
    Image: str
    Limits: dict[str, float]
    Networks: list[_Network]


class _Task(TypedDict, total=False):
    Cluster: str
    TaskARN: str
    Family: str
    Revision: str
    LaunchType: str
    AvailabilityZone: str


class EcsSource:
    """Reads the container's and its task's metadata from the ECS agent."""

    name = "ecs"

    def __init__(self, base_url: str, client: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client if client is not None else make_http_client(self.base_url)

    async def fetch(self) -> InstanceMetadata:
        container_doc, task_doc = await asyncio.gather(
            self._get_json(self.base_url), self._get_json(f"{self.base_url}/task")
        )
        if container_doc is None and task_doc is None:
            raise MetadataError(
                f"the ECS task metadata endpoint at {self.base_url} answered 404 for both the "
                f"container and the task: is {ENV_VAR} the one ECS set for this container?"
            )
        try:
            return _to_metadata(cast(_Container, container_doc or {}), cast(_Task, task_doc or {}))
        except (AttributeError, TypeError, IndexError) as exc:
            raise MetadataError(
                f"the ECS task metadata endpoint at {self.base_url} answered with a document "
                f"awsme does not understand ({exc})"
            ) from exc

    async def fetch_events(self) -> InstanceEvents:
        # The task endpoint has no interruption notices; Fargate Spot sends SIGTERM instead.
        return NO_EVENTS

    async def aclose(self) -> None:
        # The source owns its client, whether it built it or was handed it.
        await self._client.aclose()

    async def _get_json(self, url: str) -> dict[str, Any] | None:
        """The JSON object at url, or None on 404."""
        try:
            response = await self._client.get(url)
        except httpx.TimeoutException as exc:
            raise MetadataError(
                f"the ECS task metadata endpoint at {url} did not answer in time"
            ) from exc
        except httpx.HTTPError as exc:
            raise MetadataError(
                f"could not reach the ECS task metadata endpoint at {url} ({exc}): "
                "is this running in an ECS task?"
            ) from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise MetadataError(
                f"the ECS task metadata endpoint at {url} answered HTTP {response.status_code}"
            )
        try:
            doc = response.json()
        except ValueError as exc:
            raise MetadataError(
                f"the ECS task metadata endpoint at {url} did not answer with JSON"
            ) from exc
        if not isinstance(doc, dict):
            raise MetadataError(
                f"the ECS task metadata endpoint at {url} did not answer with a JSON object"
            )
        return doc


def _to_metadata(container: _Container, task: _Task) -> InstanceMetadata:
    networks = container.get("Networks") or []
    network: _Network = networks[0] if networks else {}
    addresses = network.get("IPv4Addresses") or []
    task_arn = text_or_none(task.get("TaskARN"))
    arn = _parse_arn(task_arn)
    zone = text_or_none(task.get("AvailabilityZone"))
    region = arn.get("region") or _region_from_zone(zone)
    return InstanceMetadata(
        source="ecs",
        provider="aws",
        project="aws",
        cluster=_cluster_name(text_or_none(task.get("Cluster"))),
        task_arn=task_arn,
        task_family=text_or_none(task.get("Family")),
        task_revision=text_or_none(task.get("Revision")),
        launch_type=text_or_none(task.get("LaunchType")),
        zone=zone,
        region=region,
        partition=arn.get("partition"),
        account_id=arn.get("account"),
        container_id=text_or_none(container.get("DockerId")),
        container_name=text_or_none(container.get("Name")),
        container_image=text_or_none(container.get("Image")),
        local_ipv4=text_or_none(addresses[0]) if addresses else None,
        local_hostname=text_or_none(network.get("PrivateDNSName")),
        mac=text_or_none(network.get("MACAddress")),
    )


def _parse_arn(arn: str | None) -> dict[str, str]:
    """partition, region and account of "arn:aws:ecs:us-west-2:111122223333:task/..."."""
    if arn is None:
        return {}
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return {}
    named = {"partition": parts[1], "region": parts[3], "account": parts[4]}
    return {key: value for key, value in named.items() if value}


def _cluster_name(cluster: str | None) -> str | None:
    """Fargate gives the cluster's ARN, EC2 its short name: show the short name."""
    if cluster is not None and cluster.startswith("arn:"):
        return cluster.rsplit("/", 1)[-1] or None
    return cluster


def _region_from_zone(zone: str | None) -> str | None:
    if zone is None:
        return None
    match = _REGION_FROM_ZONE.match(zone)
    return match.group(1) if match else None
