"""The backend's wire formats, as pydantic models: they document /openapi.json and
let tests check that what the routes send matches what the document promises."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class LegacyInfo(BaseModel):
    """`GET /`: the Go app's keys, kept so that a Go frontend renders this backend."""

    Id: str
    Name: str
    Version: str
    Hostname: str
    Zone: str
    Project: str
    ContainerIP: str
    InternalIP: str
    ExternalIP: str
    LBRequest: str = Field(description="the request as this backend received it, secrets redacted")
    ClientIP: str = Field(description="the address the request came from (a proxy's, behind one)")
    Local: bool
    Notes: list[str] | None = Field(description="oldest first, the most recent ones up to a limit")
    Error: str
    Instance: InstanceDocument | None = Field(
        default=None, description="the same values as /api/v1/instance, for the new frontend"
    )
    Chaos: list[str] | None = Field(
        default=None, description="with -chaos: the switches that are on, in words"
    )
    ChaosSwitches: dict[str, Any] | None = Field(
        default=None, description="with -chaos: every switch and exercise, as GET /chaos says"
    )
    NoteItems: list[NoteItem] | None = Field(
        default=None, description="the same notes as Notes, with their ids (to delete them)"
    )
    NotesError: str | None = Field(
        default=None,
        description="why the notes could not be read (then Notes is empty, not the real list)",
    )


class NoteItem(BaseModel):
    id: int
    text: str
    created_at: str | None


class Placement(BaseModel):
    region: str | None
    zone: str | None
    zone_id: str | None
    partition: str | None
    project: str | None


class Instance(BaseModel):
    id: str | None
    type: str | None
    image_id: str | None
    lifecycle: str | None = Field(description="spot or on-demand (regular on other clouds)")
    account_id: str | None
    instance_profile_arn: str | None
    tags: dict[str, str]


class Network(BaseModel):
    local_hostname: str | None
    public_hostname: str | None
    local_ipv4: str | None
    public_ipv4: str | None
    mac: str | None
    vpc_id: str | None
    subnet_id: str | None
    security_groups: list[str]


class EcsTask(BaseModel):
    cluster: str | None
    task_arn: str | None
    family: str | None
    revision: str | None
    launch_type: str | None
    container_name: str | None
    container_image: str | None


class Kubernetes(BaseModel):
    pod_name: str | None
    namespace: str | None
    node_name: str | None
    pod_ip: str | None


class Container(BaseModel):
    id: str | None
    cgroup_version: int | None
    memory_limit_bytes: int | None = Field(description="None when unlimited or unknown")
    cpu_limit_cores: float | None = Field(description="None when unlimited or unknown")


class SpotInterruption(BaseModel):
    action: str
    time: str


class MaintenanceEvent(BaseModel):
    code: str
    description: str
    state: str | None
    not_before: str | None
    not_after: str | None
    event_id: str | None


class Events(BaseModel):
    spot_interruption: SpotInterruption | None
    maintenance: list[MaintenanceEvent]


class ServedBy(BaseModel):
    """Which replica answered: what changes from one refresh to the next behind a balancer."""

    hostname: str
    pid: int
    version: str
    container_ip: str


class MetadataStatus(BaseModel):
    source: str = Field(description="ec2, ecs, gce, azure, local or simulated")
    imds_version: str | None = Field(description="v2 or v1 when read from EC2")
    local: bool
    fetched_at: str | None = Field(description="when the values were read (ISO 8601, UTC)")
    age_seconds: float | None
    error: str | None
    notice: str | None = Field(
        None, description='fine, but worth saying: "IMDS v1 (token refused: 405)"'
    )


class InstanceDocument(BaseModel):
    """`GET /api/v1/instance`: where this replica runs."""

    provider: str | None = Field(description="aws, gcp, azure or local")
    instance: Instance
    placement: Placement
    network: Network
    ecs: EcsTask | None
    kubernetes: Kubernetes | None
    container: Container
    events: Events
    served_by: ServedBy
    metadata: MetadataStatus


LegacyInfo.model_rebuild()
