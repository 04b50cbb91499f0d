"""The Azure Instance Metadata Service (IMDS) and its Scheduled Events."""

from __future__ import annotations

import json
from typing import Any, TypedDict, cast

import httpx

from awsme.metadata.model import (
    InstanceEvents,
    InstanceMetadata,
    MaintenanceEvent,
    MetadataError,
    SpotInterruption,
)
from awsme.metadata.source import make_http_client
from awsme.metadata.values import rfc1123_to_iso, text_or_none, utc_now_iso

DEFAULT_BASE_URL = "http://169.254.169.254"
INSTANCE_PATH = "/metadata/instance?api-version=2021-02-01"
EVENTS_PATH = "/metadata/scheduledevents?api-version=2020-07-01"
# IMDS refuses requests without it, so that a proxied browser request cannot read it.
METADATA_HEADERS = {"Metadata": "true"}


class _IpAddress(TypedDict, total=False):
    privateIpAddress: str
    publicIpAddress: str


class _Ipv4(TypedDict, total=False):
    ipAddress: list[_IpAddress]


class _Interface(TypedDict, total=False):
    ipv4: _Ipv4
    macAddress: str


class _Network(TypedDict, total=False):
    interface: list[_Interface]


class _Tag(TypedDict):
    name: str
    value: str


class _OsProfile(TypedDict, total=False):
    computerName: str


class _Compute(TypedDict, total=False):
    vmId: str
    name: str
    vmSize: str
    location: str
    zone: str
    subscriptionId: str
    resourceGroupName: str
    priority: str
    osProfile: _OsProfile
    tagsList: list[_Tag]
    publisher: str
    offer: str
    sku: str
    version: str


class _Instance(TypedDict, total=False):
    compute: _Compute
    network: _Network


class _Event(TypedDict, total=False):
    EventId: str
    EventType: str  # Freeze, Reboot, Redeploy, Preempt, Terminate
    EventStatus: str  # Scheduled, Started
    Resources: list[str]
    NotBefore: str  # RFC 1123, "" once started
    Description: str


class AzureSource:
    """Reads compute and network metadata and scheduled events from Azure IMDS."""

    name = "azure"

    def __init__(
        self, base_url: str = DEFAULT_BASE_URL, client: httpx.AsyncClient | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = (
            client
            if client is not None
            else make_http_client(self.base_url, headers=METADATA_HEADERS)
        )
        # Events name the VMs they affect; the whole availability set sees them all.
        self._vm_name: str | None = None

    async def fetch(self) -> InstanceMetadata:
        doc = cast(_Instance, await self._get_json(INSTANCE_PATH))
        try:
            metadata = _to_metadata(doc)
        except (AttributeError, TypeError, IndexError, KeyError) as exc:
            raise MetadataError(
                f"Azure IMDS at {self.base_url} answered with a document "
                f"awsme does not understand ({exc})"
            ) from exc
        self._vm_name = text_or_none((doc.get("compute") or {}).get("name"))
        return metadata

    async def fetch_events(self) -> InstanceEvents:
        doc = await self._get_json(EVENTS_PATH)
        raw_events = doc.get("Events") or []
        if not isinstance(raw_events, list):
            raw_events = []
        spot: SpotInterruption | None = None
        maintenance: list[MaintenanceEvent] = []
        for event in cast(list[_Event], raw_events):
            if not isinstance(event, dict) or not self._concerns_me(event):
                continue
            event_type = text_or_none(event.get("EventType")) or "Unknown"
            not_before = rfc1123_to_iso(text_or_none(event.get("NotBefore")))
            if event_type == "Preempt":
                spot = SpotInterruption(action="terminate", time=not_before or utc_now_iso())
            else:
                maintenance.append(
                    MaintenanceEvent(
                        code=event_type,
                        description=text_or_none(event.get("Description"))
                        or f"{event_type} scheduled",
                        state=text_or_none(event.get("EventStatus")),
                        not_before=not_before,
                        event_id=text_or_none(event.get("EventId")),
                    )
                )
        return InstanceEvents(spot_interruption=spot, maintenance=tuple(maintenance))

    async def aclose(self) -> None:
        # The source owns its client, whether it built it or was handed it.
        await self._client.aclose()

    def _concerns_me(self, event: _Event) -> bool:
        resources = event.get("Resources") or []
        return self._vm_name is None or not resources or self._vm_name in resources

    async def _get_json(self, path: str) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        try:
            response = await self._client.get(url, headers=METADATA_HEADERS)
        except httpx.TimeoutException as exc:
            raise MetadataError(f"Azure IMDS at {url} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise MetadataError(
                f"could not reach Azure IMDS at {url} ({exc}): is this an Azure VM?"
            ) from exc
        try:
            doc = json.loads(response.text)
        except ValueError:
            doc = None
        if response.status_code != 200:
            # IMDS explains itself: {"error": "Bad request. Required metadata header not specified"}
            reason = doc.get("error") if isinstance(doc, dict) else None
            raise MetadataError(
                f"Azure IMDS at {url} answered HTTP {response.status_code}"
                + (f": {reason}" if reason else "")
            )
        if not isinstance(doc, dict):
            raise MetadataError(f"Azure IMDS at {url} did not answer with a JSON object")
        return doc


def _to_metadata(doc: _Instance) -> InstanceMetadata:
    compute: _Compute = doc.get("compute") or {}
    interfaces = (doc.get("network") or {}).get("interface") or []
    interface: _Interface = interfaces[0] if interfaces else {}
    addresses = (interface.get("ipv4") or {}).get("ipAddress") or []
    address: _IpAddress = addresses[0] if addresses else {}
    location = text_or_none(compute.get("location"))
    zone = text_or_none(compute.get("zone"))
    if zone and location:
        # The form Kubernetes uses in topology.kubernetes.io/zone: "westeurope-1".
        zone = f"{location}-{zone}"
    priority = (text_or_none(compute.get("priority")) or "").lower()
    lifecycle = {"spot": "spot", "low": "spot", "regular": "regular"}.get(priority)
    image_parts = [
        text_or_none(compute.get(key)) for key in ("publisher", "offer", "sku", "version")
    ]
    return InstanceMetadata(
        source="azure",
        provider="azure",
        instance_id=text_or_none(compute.get("vmId")),
        instance_type=text_or_none(compute.get("vmSize")),
        image_id=":".join(p for p in image_parts if p) or None,
        region=location,
        zone=zone,
        account_id=text_or_none(compute.get("subscriptionId")),
        project=text_or_none(compute.get("resourceGroupName")),
        lifecycle=lifecycle,
        local_hostname=text_or_none((compute.get("osProfile") or {}).get("computerName")),
        tags={
            str(tag["name"]): str(tag.get("value", ""))
            for tag in compute.get("tagsList") or []
            if tag.get("name")
        },
        local_ipv4=text_or_none(address.get("privateIpAddress")),
        public_ipv4=text_or_none(address.get("publicIpAddress")),
        mac=_mac(text_or_none(interface.get("macAddress"))),
    )


def _mac(value: str | None) -> str | None:
    """IMDS writes "000D3A1B2C3D"; show it like the other clouds: "00:0d:3a:1b:2c:3d"."""
    if value is None or len(value) != 12:
        return value
    return ":".join(value[i : i + 2] for i in range(0, 12, 2)).lower()
