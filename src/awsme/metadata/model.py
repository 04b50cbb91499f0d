"""What awsme knows about the place it runs, independent of where it learnt it.

Every field is optional: a source fills what it knows and leaves the rest None,
so missing data is None rather than an exception (STYLE habit 7).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class InstanceMetadata:
    """Facts about the machine (or task) that change rarely: fetched once, refreshed slowly."""

    source: str  # the module that produced it: ec2, ecs, gce, azure, local, simulated
    provider: str  # aws, gcp, azure, local
    instance_id: str | None = None
    instance_type: str | None = None
    image_id: str | None = None
    local_hostname: str | None = None
    public_hostname: str | None = None
    local_ipv4: str | None = None
    public_ipv4: str | None = None
    zone: str | None = None
    zone_id: str | None = None
    region: str | None = None
    partition: str | None = None
    project: str | None = None  # GCE project id, Azure resource group; None on AWS
    mac: str | None = None
    vpc_id: str | None = None
    subnet_id: str | None = None
    security_groups: tuple[str, ...] = ()
    lifecycle: str | None = None  # spot, on-demand (EC2); regular, spot (Azure/GCE)
    account_id: str | None = None
    instance_profile_arn: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    imds_version: str | None = None  # v2 or v1, when the EC2 source answered
    # ECS task metadata (endpoint v4)
    cluster: str | None = None
    task_arn: str | None = None
    task_family: str | None = None
    task_revision: str | None = None
    launch_type: str | None = None
    container_name: str | None = None
    container_image: str | None = None
    container_id: str | None = None
    local: bool = False  # True when no cloud metadata service was used
    # Something the user should know although the fetch worked (e.g. IMDSv1 fallback)
    notice: str | None = None  # fine, but worth saying (IMDS v1 in use, and why)


@dataclass(frozen=True, slots=True)
class SpotInterruption:
    action: str  # terminate, stop, hibernate
    time: str  # ISO 8601, as the metadata service gives it


@dataclass(frozen=True, slots=True)
class MaintenanceEvent:
    code: str
    description: str
    state: str | None = None
    not_before: str | None = None
    not_after: str | None = None
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class InstanceEvents:
    """Facts that can change at any moment and are re-read on a short interval."""

    spot_interruption: SpotInterruption | None = None
    maintenance: tuple[MaintenanceEvent, ...] = ()


NO_EVENTS = InstanceEvents()


@dataclass(frozen=True, slots=True)
class KubernetesInfo:
    """What the downward API tells a pod about itself (empty outside Kubernetes)."""

    pod_name: str | None = None
    namespace: str | None = None
    node_name: str | None = None
    pod_ip: str | None = None
    in_cluster: bool = False  # KUBERNETES_SERVICE_HOST is set

    @property
    def present(self) -> bool:
        return self.in_cluster or any((self.pod_name, self.namespace, self.node_name, self.pod_ip))


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    """The container this process runs in and the limits the kernel enforces on it."""

    container_id: str | None = None
    cgroup_version: int | None = None  # 1 or 2; None when no cgroup was readable
    memory_limit_bytes: int | None = None  # None: unlimited or unknown
    cpu_limit_cores: float | None = None  # quota / period; None: unlimited or unknown


class MetadataError(Exception):
    """A metadata source could not answer; the message is shown to users as is."""
