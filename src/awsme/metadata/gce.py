"""The Google Compute Engine metadata server (computeMetadata/v1)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
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
from awsme.metadata.values import text_or_none, utc_now_iso

DEFAULT_BASE_URL = "http://metadata.google.internal"
HOST_ENV_VAR = "GCE_METADATA_HOST"
# Required on requests (so that a proxied browser request cannot reach the server)
# and present on answers (so that a captive portal is not mistaken for it).
FLAVOR_HEADER = "Metadata-Flavor"
FLAVOR = "Google"

_MAINTENANCE = {
    "MIGRATE_ON_HOST_MAINTENANCE": "the VM will be live-migrated to another host",
    "TERMINATE_ON_HOST_MAINTENANCE": "the VM will be stopped for host maintenance",
}


class _AccessConfig(TypedDict, total=False):
    externalIp: str
    type: str


class _NetworkInterface(TypedDict, total=False):
    ip: str
    mac: str
    network: str
    accessConfigs: list[_AccessConfig]


class _Scheduling(TypedDict, total=False):
    preemptible: str
    provisioningModel: str


class _Instance(TypedDict, total=False):
    id: int
    name: str
    hostname: str
    zone: str
    machineType: str
    image: str
    networkInterfaces: list[_NetworkInterface]
    scheduling: _Scheduling
    tags: list[str]


def gce_base_url(environ: Mapping[str, str]) -> str:
    """The metadata server's URL; GCE_METADATA_HOST is host[:port], as in Google's SDKs."""
    host = environ.get(HOST_ENV_VAR, "").strip()
    if not host:
        return DEFAULT_BASE_URL
    if "://" in host:  # tolerate a full URL even though the SDKs expect a bare host
        return host.rstrip("/")
    return f"http://{host}"


class GceSource:
    """Reads instance and project metadata from the GCE metadata server."""

    name = "gce"

    def __init__(
        self, base_url: str = DEFAULT_BASE_URL, client: httpx.AsyncClient | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = (
            client
            if client is not None
            else make_http_client(self.base_url, headers={FLAVOR_HEADER: FLAVOR})
        )

    async def fetch(self) -> InstanceMetadata:
        instance_text, project = await asyncio.gather(
            self._get("/computeMetadata/v1/instance/?recursive=true"),
            self._get("/computeMetadata/v1/project/project-id"),
        )
        if instance_text is None:
            raise MetadataError(
                f"the GCE metadata server at {self.base_url} has no instance metadata (404)"
            )
        try:
            doc = json.loads(instance_text)
        except ValueError as exc:
            raise MetadataError(
                f"the GCE metadata server at {self.base_url} did not answer with JSON"
            ) from exc
        if not isinstance(doc, dict):
            raise MetadataError(
                f"the GCE metadata server at {self.base_url} did not answer with a JSON object"
            )
        try:
            return _to_metadata(cast(_Instance, doc), text_or_none(project))
        except (AttributeError, TypeError, IndexError) as exc:
            raise MetadataError(
                f"the GCE metadata server at {self.base_url} answered with a document "
                f"awsme does not understand ({exc})"
            ) from exc

    async def fetch_events(self) -> InstanceEvents:
        maintenance, preempted = await asyncio.gather(
            self._get("/computeMetadata/v1/instance/maintenance-event"),
            self._get("/computeMetadata/v1/instance/preempted"),
        )
        events: tuple[MaintenanceEvent, ...] = ()
        code = (maintenance or "").strip()
        if code and code != "NONE":
            description = _MAINTENANCE.get(code, "host maintenance is scheduled")
            events = (MaintenanceEvent(code=code, description=description),)
        spot = None
        if (preempted or "").strip().upper() == "TRUE":
            # GCE gives no time for a preemption: it is happening now (30 s notice).
            spot = SpotInterruption(action="terminate", time=utc_now_iso())
        return InstanceEvents(spot_interruption=spot, maintenance=events)

    async def aclose(self) -> None:
        # The source owns its client, whether it built it or was handed it.
        await self._client.aclose()

    async def _get(self, path: str) -> str | None:
        """The body at path, or None on 404."""
        url = f"{self.base_url}{path}"
        try:
            response = await self._client.get(url, headers={FLAVOR_HEADER: FLAVOR})
        except httpx.TimeoutException as exc:
            raise MetadataError(f"the GCE metadata server at {url} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise MetadataError(
                f"could not reach the GCE metadata server at {url} ({exc}): "
                "is this a Google Compute Engine VM?"
            ) from exc
        if response.headers.get(FLAVOR_HEADER) != FLAVOR:
            raise MetadataError(
                f"{url} answered without the '{FLAVOR_HEADER}: {FLAVOR}' header: "
                "not a GCE metadata server"
            )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise MetadataError(
                f"the GCE metadata server at {url} answered HTTP {response.status_code}"
            )
        return response.text


def _to_metadata(doc: _Instance, project: str | None) -> InstanceMetadata:
    interfaces = doc.get("networkInterfaces") or []
    interface: _NetworkInterface = interfaces[0] if interfaces else {}
    access_configs = interface.get("accessConfigs") or []
    zone = _last_segment(doc.get("zone"))
    scheduling = doc.get("scheduling")
    lifecycle = None
    if scheduling is not None:
        spot = (
            str(scheduling.get("preemptible", "")).upper() == "TRUE"
            or str(scheduling.get("provisioningModel", "")).upper() == "SPOT"
        )
        lifecycle = "spot" if spot else "regular"
    return InstanceMetadata(
        source="gce",
        provider="gcp",
        instance_id=text_or_none(doc.get("id")),
        local_hostname=text_or_none(doc.get("hostname")) or text_or_none(doc.get("name")),
        zone=zone,
        region=zone.rsplit("-", 1)[0] if zone and "-" in zone else None,
        instance_type=_last_segment(doc.get("machineType")),
        image_id=text_or_none(doc.get("image")),
        local_ipv4=text_or_none(interface.get("ip")),
        public_ipv4=text_or_none(access_configs[0].get("externalIp")) if access_configs else None,
        mac=text_or_none(interface.get("mac")),
        lifecycle=lifecycle,
        tags={str(tag): "" for tag in doc.get("tags") or []},
        project=project,
    )


def _last_segment(value: Any) -> str | None:
    """The name at the end of a resource path: projects/123/zones/us-central1-a."""
    text = text_or_none(value)
    return (text.rsplit("/", 1)[-1] or None) if text else None
