"""What the card shows, computed from ONE backend answer (a Go backend's 14 keys
or this backend's richer JSON). The template and the page's script both render
this view, so a value looks the same after a reload and after an auto-refresh."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Row:
    key: str  # stable, for the page's script and tests: "name", "zone", ...
    label: str
    value: str | None  # None: the backend does not know it (shown as missing)


@dataclass(frozen=True, slots=True)
class NoteView:
    id: int | None  # None for a Go backend, which gives no ids (no delete button)
    text: str


@dataclass(frozen=True, slots=True)
class ReplicaView:
    """Who answered: the bar the auto-refresh chart counts."""

    key: str  # pod name, else the replica's hostname, else the instance id
    version: str | None


@dataclass(frozen=True, slots=True)
class Card:
    ok: bool  # the backend answered with awsme JSON
    problem: str | None  # why not, when not ok (shown on a 503 card)
    backend_rows: list[Row] = field(default_factory=list)  # the Go app's rows
    detail_rows: list[Row] = field(default_factory=list)  # what the new sources know
    proxy_rows: list[Row] = field(default_factory=list)  # Address, Request, Error
    notes: list[NoteView] = field(default_factory=list)  # oldest first
    notices: list[str] = field(default_factory=list)  # spot interruption, maintenance
    replica: ReplicaView | None = None
    backend_error: str | None = None  # the backend's own Error key

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _text(value: Any) -> str | None:
    if value is None or value == "" or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _dig(document: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def _dict(value: Any) -> dict[str, Any]:
    """A JSON object, or an empty one: a backend's JSON is input, not trusted."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _bytes(value: Any) -> str | None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return None
    size, unit = float(value), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            break
        size /= 1024
    return f"{size:.4g} {unit}"


def card_from_backend(info: dict[str, Any]) -> Card:
    """The card for a backend's `GET /` JSON; missing keys are missing values."""
    instance = _dict(info.get("Instance"))
    kube = _dict(instance.get("kubernetes"))
    container = _dict(instance.get("container"))
    events = _dict(instance.get("events"))
    backend_rows = [
        Row("name", "Name", _text(info.get("Name"))),
        Row("version", "Version", _text(info.get("Version"))),
        Row("id", "ID", _text(info.get("Id"))),
        Row("hostname", "Hostname", _text(info.get("Hostname"))),
        Row("zone", "Zone", _text(info.get("Zone"))),
        Row("project", "Project", _text(info.get("Project"))),
        Row("container_ip", "Container IP", _text(info.get("ContainerIP"))),
        Row("internal_ip", "Internal IP", _text(info.get("InternalIP"))),
        Row("external_ip", "External IP", _text(info.get("ExternalIP"))),
    ]
    detail_rows = [
        Row("provider", "Provider", _text(_dig(instance, "provider"))),
        Row("instance_type", "Instance type", _text(_dig(instance, "instance", "type"))),
        Row("region", "Region", _text(_dig(instance, "placement", "region"))),
        Row("zone_id", "AZ ID", _text(_dig(instance, "placement", "zone_id"))),
        Row("lifecycle", "Lifecycle", _text(_dig(instance, "instance", "lifecycle"))),
        Row("pod", "Pod", _text(kube.get("pod_name"))),
        Row("namespace", "Namespace", _text(kube.get("namespace"))),
        Row("node", "Node", _text(kube.get("node_name"))),
        Row("imds_version", "IMDS version", _text(_dig(instance, "metadata", "imds_version"))),
        Row("memory_limit", "Memory limit", _bytes(container.get("memory_limit_bytes"))),
        Row("cpu_limit", "CPU limit", _text(container.get("cpu_limit_cores"))),
        Row("served_by", "Served by", _served_by(instance)),
    ]
    proxy_rows = [
        Row("client_ip", "Address", _text(info.get("ClientIP"))),
        Row("request", "Request", _text(info.get("LBRequest"))),
        Row("error", "Error", _text(info.get("Error"))),
    ]
    return Card(
        ok=True,
        problem=None,
        backend_rows=backend_rows,
        detail_rows=detail_rows,
        proxy_rows=proxy_rows,
        notes=_notes(info),
        notices=_notices(events) + [f"Chaos on the backend: {line}" for line in _chaos(info)],
        replica=ReplicaView(
            key=_text(kube.get("pod_name"))
            or _text(_dig(instance, "served_by", "hostname"))
            or _text(info.get("Id"))
            or _text(info.get("Hostname"))
            or "unknown",
            version=_text(info.get("Version")),
        ),
        backend_error=_text(info.get("Error")),
    )


def _served_by(instance: Any) -> str | None:
    hostname = _text(_dig(instance, "served_by", "hostname"))
    pid = _text(_dig(instance, "served_by", "pid"))
    if hostname and pid:
        return f"{hostname} (pid {pid})"
    return hostname


def _notes(info: dict[str, Any]) -> list[NoteView]:
    items = info.get("NoteItems")
    if isinstance(items, list) and all(isinstance(item, dict) for item in items):
        return [
            NoteView(id=item.get("id"), text=str(item.get("text", "")))
            for item in items
            if isinstance(item, dict) and isinstance(item.get("id"), int)
        ]
    notes = _list(info.get("Notes"))  # a Go backend: strings, possibly null
    return [NoteView(id=None, text=str(text)) for text in notes if text is not None]


def _chaos(info: dict[str, Any]) -> list[str]:
    lines = info.get("Chaos")
    return [str(line) for line in lines] if isinstance(lines, list) else []


def _notices(events: dict[str, Any]) -> list[str]:
    notices = []
    spot = _dig(events, "spot_interruption")
    if isinstance(spot, dict) and spot.get("action"):
        notices.append(
            f"Spot interruption: this instance will {spot['action']} at {spot.get('time', '?')}"
        )
    for event in _list(events.get("maintenance")):
        if isinstance(event, dict):
            notices.append(
                f"Scheduled maintenance: {event.get('code')} ({event.get('description')}) "
                f"from {event.get('not_before') or '?'}"
            )
    return notices


def unavailable_card(problem: str) -> Card:
    return Card(ok=False, problem=problem)
