"""The instance document is built once per change of its snapshot, and its age is
new on every request."""

from __future__ import annotations

from dataclasses import replace

from awsme.backend.instance import instance_document
from awsme.metadata.cache import Snapshot
from awsme.metadata.model import (
    NO_EVENTS,
    ContainerInfo,
    InstanceEvents,
    InstanceMetadata,
    KubernetesInfo,
    SpotInterruption,
)
from awsme.replica import current_replica

METADATA = InstanceMetadata(source="simulated", provider="aws", instance_type="t3.micro")
SNAPSHOT = Snapshot(
    source="simulated",
    metadata=METADATA,
    events=NO_EVENTS,
    kubernetes=KubernetesInfo(),
    container=ContainerInfo(),
    fetched_at=1_790_000_000.0,
    error=None,
    age_seconds=1.0,
)


def test_the_age_is_new_on_every_request_and_the_rest_is_built_once() -> None:
    replica = current_replica()
    first = instance_document(SNAPSHOT, replica)
    later = instance_document(replace(SNAPSHOT, age_seconds=2.5), replica)
    assert first["metadata"]["age_seconds"] == 1.0
    assert later["metadata"]["age_seconds"] == 2.5
    assert later["instance"] is first["instance"]  # the same snapshot: not built again


def test_a_refresh_an_event_or_an_error_gives_a_new_document() -> None:
    replica = current_replica()
    first = instance_document(SNAPSHOT, replica)
    refreshed = replace(SNAPSHOT, metadata=replace(METADATA, instance_type="m5.large"))
    assert instance_document(refreshed, replica)["instance"]["type"] == "m5.large"
    spot = InstanceEvents(spot_interruption=SpotInterruption("terminate", "2026-11-29T10:00:00Z"))
    assert instance_document(replace(SNAPSHOT, events=spot), replica)["events"][
        "spot_interruption"
    ] == {"action": "terminate", "time": "2026-11-29T10:00:00Z"}
    failing = replace(SNAPSHOT, error="metadata is 400 s old: refresh failed")
    assert (
        instance_document(failing, replica)["metadata"]["error"]
        == "metadata is 400 s old: refresh failed"
    )
    other_process = replace(replica, pid=replica.pid + 1)
    assert instance_document(SNAPSHOT, other_process)["served_by"]["pid"] == replica.pid + 1
    # Back to the first snapshot's parts: its document again.
    assert instance_document(SNAPSHOT, replica) == first
