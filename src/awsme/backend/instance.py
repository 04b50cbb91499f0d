"""`GET /api/v1/instance`: the metadata in a richer, documented shape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from awsme.backend.schemas import InstanceDocument
from awsme.metadata.cache import Snapshot
from awsme.metadata.model import InstanceMetadata
from awsme.replica import Replica

router = APIRouter(tags=["instance"])

_UNKNOWN = InstanceMetadata(source="none", provider="")


def instance_document(snapshot: Snapshot, replica: Replica) -> dict[str, Any]:
    """The document of a snapshot; the shape is InstanceDocument's. Built once per
    change of the metadata (every 5 minutes, or when an event or an error comes),
    not per request: only its age is new each time. Do not modify it."""
    global _last
    key = _Key(snapshot, replica)
    if _last is None or not _last[0].same(key):
        _last = (key, _build(snapshot, replica))
    document = _last[1]
    age = snapshot.age_seconds
    metadata = {**document["metadata"], "age_seconds": None if age is None else round(age, 3)}
    return {**document, "metadata": metadata}


class _Key:
    """What a document is made of: the same objects and values, the same document."""

    __slots__ = ("objects", "values")

    def __init__(self, snapshot: Snapshot, replica: Replica) -> None:
        # The snapshot's parts are replaced, never changed, when the cache refreshes.
        self.objects = (
            snapshot.metadata,
            snapshot.events,
            snapshot.kubernetes,
            snapshot.container,
            replica,
        )
        self.values = (snapshot.source, snapshot.fetched_at, snapshot.error, snapshot.notice)

    def same(self, other: _Key) -> bool:
        return self.values == other.values and all(
            mine is theirs for mine, theirs in zip(self.objects, other.objects, strict=True)
        )


_last: tuple[_Key, dict[str, Any]] | None = None


def _build(snapshot: Snapshot, replica: Replica) -> dict[str, Any]:
    meta = snapshot.metadata or _UNKNOWN
    kube = snapshot.kubernetes
    container = snapshot.container
    events = snapshot.events
    fetched_at = (
        datetime.fromtimestamp(snapshot.fetched_at, UTC).isoformat(timespec="seconds")
        if snapshot.fetched_at is not None
        else None
    )
    return {
        "provider": meta.provider or None,
        "instance": {
            "id": meta.instance_id,
            "type": meta.instance_type,
            "image_id": meta.image_id,
            "lifecycle": meta.lifecycle,
            "account_id": meta.account_id,
            "instance_profile_arn": meta.instance_profile_arn,
            "tags": meta.tags,
        },
        "placement": {
            "region": meta.region,
            "zone": meta.zone,
            "zone_id": meta.zone_id,
            "partition": meta.partition,
            "project": meta.project,
        },
        "network": {
            "local_hostname": meta.local_hostname,
            "public_hostname": meta.public_hostname,
            "local_ipv4": meta.local_ipv4,
            "public_ipv4": meta.public_ipv4,
            "mac": meta.mac,
            "vpc_id": meta.vpc_id,
            "subnet_id": meta.subnet_id,
            "security_groups": list(meta.security_groups),
        },
        "ecs": (
            {
                "cluster": meta.cluster,
                "task_arn": meta.task_arn,
                "family": meta.task_family,
                "revision": meta.task_revision,
                "launch_type": meta.launch_type,
                "container_name": meta.container_name,
                "container_image": meta.container_image,
            }
            if meta.task_arn
            else None
        ),
        "kubernetes": (
            {
                "pod_name": kube.pod_name,
                "namespace": kube.namespace,
                "node_name": kube.node_name,
                "pod_ip": kube.pod_ip,
            }
            if kube.present
            else None
        ),
        "container": {
            "id": container.container_id or meta.container_id,
            "cgroup_version": container.cgroup_version,
            "memory_limit_bytes": container.memory_limit_bytes,
            "cpu_limit_cores": container.cpu_limit_cores,
        },
        "events": {
            "spot_interruption": (
                {"action": events.spot_interruption.action, "time": events.spot_interruption.time}
                if events.spot_interruption
                else None
            ),
            "maintenance": [
                {
                    "code": event.code,
                    "description": event.description,
                    "state": event.state,
                    "not_before": event.not_before,
                    "not_after": event.not_after,
                    "event_id": event.event_id,
                }
                for event in events.maintenance
            ],
        },
        "served_by": {
            "hostname": replica.hostname,
            "pid": replica.pid,
            "version": replica.version,
            "container_ip": replica.container_ip,
        },
        "metadata": {
            "source": snapshot.source,
            "imds_version": meta.imds_version,
            "local": meta.local,
            "fetched_at": fetched_at,
            "age_seconds": None,  # per request: instance_document fills it in
            "error": snapshot.error,
            "notice": snapshot.notice,
        },
    }


@router.get(
    "/api/v1/instance",
    response_class=Response,
    responses={200: {"model": InstanceDocument, "description": "where this replica runs"}},
    summary="Instance metadata of the replica that answers",
)
async def get_instance(request: Request) -> Response:
    state = request.app.state.backend
    snapshot = await state.cache.get()
    body = orjson.dumps(instance_document(snapshot, state.replica))
    return Response(body, media_type="application/json")
