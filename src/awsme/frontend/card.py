"""What the card shows, computed from ONE backend answer (a Go backend's 14 keys
or this backend's richer JSON). Only the templates draw it: the page, and the
fragment that the page's auto-refresh swaps in."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Row:
    key: str  # stable, for the page's script and tests: "pod", "zone", ...
    label: str
    value: str | None  # None: the backend does not know it (shown as missing)


@dataclass(frozen=True, slots=True)
class NoteView:
    id: int | None  # None for a Go backend, which gives no ids (no delete button)
    text: str
    created_at: datetime | None = None  # aware, UTC; None when the backend does not say
    # created_at as the page writes it, made here once: a call inside a template
    # costs several times more, and the card draws every note on every refresh.
    created_iso: str = field(init=False, default="")
    created_exact: str = field(init=False, default="")
    created_epoch: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        if self.created_at is not None:
            when = self.created_at
            object.__setattr__(self, "created_iso", when.isoformat(timespec="seconds"))
            object.__setattr__(self, "created_exact", when.strftime("%Y-%m-%d %H:%M:%S UTC"))
            object.__setattr__(self, "created_epoch", when.timestamp())


@dataclass(frozen=True, slots=True)
class NotesView:
    """The notes box. When the backend could not read them (`problem`), the list is
    the last one this frontend saw (`stale_seconds` old), or unknown (`known` false):
    never an empty list that looks like data loss."""

    items: list[NoteView] = field(default_factory=list)  # oldest first
    problem: str | None = None
    known: bool = True
    stale_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class ReplicaView:
    """Who answered: the bar the auto-refresh chart counts."""

    key: str  # pod name, else the replica's hostname, else the instance id
    version: str | None
    label: str  # the key, shortened where needed to the part that tells replicas apart


@dataclass(frozen=True, slots=True)
class ChaosView:
    """The backend's -chaos switches, for the buttons (present only with -chaos)."""

    readyz: bool = False  # failing on purpose
    livez: bool = False
    latency_ms: int = 0
    error_percent: float = 0.0
    cpu_percent: float = 0.0
    memory_mb: int = 0
    memory_limit_mb: int | None = None  # the container's, for the "above the limit" button


@dataclass(frozen=True, slots=True)
class Card:
    ok: bool  # the backend answered with awsme JSON
    problem: str | None  # why not, when not ok (in people's words)
    facts: list[Row] = field(default_factory=list)  # the first screen: where it runs
    more_rows: list[Row] = field(default_factory=list)  # the rest, folded
    request: str | None = None  # the request as the backend saw it
    legacy: bool = False  # a Go backend: it knows only its 14 keys
    metadata_source: str | None = None  # "simulated": said on the card, next to the values
    notes: NotesView = field(default_factory=NotesView)
    notices: list[str] = field(default_factory=list)  # spot interruption, maintenance
    replica: ReplicaView | None = None
    backend_error: str | None = None  # the backend's own Error key
    chaos: ChaosView | None = None  # the backend runs with -chaos: its switches

    def as_json(self) -> dict[str, Any]:
        return asdict(self, dict_factory=_without_drawing_fields)


def _without_drawing_fields(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {name: value for name, value in pairs if name not in _DRAWING_FIELDS}


_DRAWING_FIELDS = frozenset({"created_iso", "created_exact", "created_epoch"})  # NoteView's


# A pod of a Deployment: <deployment>-<ReplicaSet hash>-<5 characters>.
_POD = re.compile(r"(?P<base>.+)-(?P<hash>[a-z0-9]{6,10})-(?P<pod>[a-z0-9]{5})")
LABEL_MAX = 20


def replica_label(key: str, limit: int = LABEL_MAX) -> str:
    """The part of a replica's name that tells it from its siblings. Pods of one
    ReplicaSet share all but the last 5 characters, and a rollout changes the hash
    before them: `backend-5f7c9d8b6-q9wzm` becomes `backend-5f7c…-q9wzm`. A long name
    loses its middle, never its end."""
    if len(key) <= limit:
        return key
    pod = _POD.fullmatch(key)
    if pod:
        tail = f"{pod['hash'][:4]}…-{pod['pod']}"
        base = pod["base"]
        room = limit - len(tail) - 1
        if len(base) > room:
            base = base[: max(room - 1, 1)] + "…"
        return f"{base}-{tail}"
    tail = key[-8:]
    return key[: limit - len(tail) - 1] + "…" + tail


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
    legacy = "Instance" not in info
    instance = _dict(info.get("Instance"))
    kube = _dict(instance.get("kubernetes"))
    container = _dict(instance.get("container"))
    events = _dict(instance.get("events"))
    pod = _text(kube.get("pod_name"))
    host = _text(_dig(instance, "served_by", "hostname"))
    key = pod or host or _text(info.get("Id")) or _text(info.get("Hostname")) or "unknown"
    # The row that names the replica comes first and says what the banner says.
    if pod:
        who = [Row("pod", "Pod", pod), Row("node", "Node", _text(kube.get("node_name")))]
    elif host:
        who = [Row("host", "Host", host)]
    else:
        who = []
    source = _text(_dig(instance, "metadata", "source"))
    ecs = _dict(instance.get("ecs"))
    facts = [
        *who,
        Row("zone", "Zone", _text(info.get("Zone"))),
        Row("zone_id", "AZ ID", _text(_dig(instance, "placement", "zone_id"))),
        *(
            _ecs_rows(ecs)
            if ecs
            else [
                Row("id", "Instance", _text(info.get("Id"))),
                Row("instance_type", "Type", _text(_dig(instance, "instance", "type"))),
            ]
        ),
    ]
    more_rows = [
        Row("name", "Name", _text(info.get("Name"))),
        Row("version", "Version", _text(info.get("Version"))),
        Row("hostname", "Hostname", _text(info.get("Hostname"))),
        Row("region", "Region", _text(_dig(instance, "placement", "region"))),
        Row("provider", "Provider", _text(_dig(instance, "provider"))),
        Row("project", "Project", _text(info.get("Project"))),
        Row("container_ip", "Container IP", _text(info.get("ContainerIP"))),
        Row("internal_ip", "Internal IP", _text(info.get("InternalIP"))),
        Row("external_ip", "External IP", _text(info.get("ExternalIP"))),
        Row("lifecycle", "Lifecycle", _text(_dig(instance, "instance", "lifecycle"))),
        Row("namespace", "Namespace", _text(kube.get("namespace"))),
        Row("imds_version", "IMDS version", _text(_dig(instance, "metadata", "imds_version"))),
        Row("metadata_source", "Metadata from", source),
        Row("memory_limit", "Memory limit", _bytes(container.get("memory_limit_bytes"))),
        Row("cpu_limit", "CPU limit", _text(container.get("cpu_limit_cores"))),
        Row("ecs_task_arn", "Task ARN", _text(ecs.get("task_arn"))),
        Row("served_by", "Served by", _served_by(instance)),
        Row("client_ip", "Request from", _text(info.get("ClientIP"))),
    ]
    if legacy:  # a Go backend knows none of the new rows: no column of dashes
        more_rows = [row for row in more_rows if row.value is not None]
    request = _text(info.get("LBRequest"))
    return Card(
        ok=True,
        problem=None,
        facts=facts,
        more_rows=more_rows,
        request=request.rstrip() if request else None,
        legacy=legacy,
        metadata_source=source,
        notes=_notes(info),
        notices=_notices(events)
        + _metadata_notice(instance)
        + [f"Chaos on the backend: {line}" for line in _chaos(info)],
        replica=ReplicaView(key=key, version=_text(info.get("Version")), label=replica_label(key)),
        backend_error=_text(info.get("Error")),
        chaos=_chaos_view(info.get("ChaosSwitches")),
    )


def _served_by(instance: Any) -> str | None:
    hostname = _text(_dig(instance, "served_by", "hostname"))
    pid = _text(_dig(instance, "served_by", "pid"))
    if hostname and pid:
        return f"{hostname} (pid {pid})"
    return hostname


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: at the ends of the calendar
        return None


def _notes(info: dict[str, Any]) -> NotesView:
    items = info.get("NoteItems")
    if isinstance(items, list) and all(isinstance(item, dict) for item in items):
        notes = [
            NoteView(item["id"], str(item.get("text", "")), _when(item.get("created_at")))
            for item in items
            if isinstance(item.get("id"), int)
        ]
    else:  # a Go backend: strings, possibly null
        notes = [NoteView(id=None, text=str(t)) for t in _list(info.get("Notes")) if t is not None]
    if "NotesError" in info:
        problem = _text(info.get("NotesError"))
    else:
        # A Go backend puts its database error in Error and leaves Notes empty.
        problem = _text(info.get("Error")) if not notes else None
    if problem:
        # The box already says "Notes are unavailable": the reason is what follows.
        problem = problem.removeprefix("notes unavailable: ")
        return NotesView(items=[], problem=problem, known=False)
    return NotesView(items=notes)


def remember_notes(
    notes: NotesView, memory: tuple[list[NoteView], float] | None, now: float
) -> tuple[NotesView, tuple[list[NoteView], float] | None]:
    """During an outage, the last list this frontend saw, marked with its age.
    Returns the notes to show and what to remember for the next answer."""
    if notes.problem is None:
        return notes, (notes.items, now)
    if memory is None:
        return notes, None
    items, seen_at = memory
    return replace(notes, items=items, known=True, stale_seconds=max(now - seen_at, 0)), memory


def _chaos(info: dict[str, Any]) -> list[str]:
    lines = info.get("Chaos")
    return [str(line) for line in lines] if isinstance(lines, list) else []


def _chaos_view(switches: Any) -> ChaosView | None:
    if not isinstance(switches, dict):
        return None
    probes = _dig(switches, "failing_probes")
    probes = probes if isinstance(probes, dict) else {}
    limit = _dig(switches, "memory", "limit_bytes")
    return ChaosView(
        readyz="readyz" in probes,
        livez="livez" in probes,
        latency_ms=_number(switches.get("latency_ms")),
        error_percent=_number(switches.get("error_percent")),
        cpu_percent=_number(_dig(switches, "cpu", "percent")),
        memory_mb=_number(_dig(switches, "memory", "mb")),
        memory_limit_mb=limit // 2**20 if isinstance(limit, int) else None,
    )


def _number(value: Any) -> Any:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else 0


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


def _ecs_rows(ecs: dict[str, Any]) -> list[Row]:
    """On ECS the task is what a replica is: its cluster, task, definition and launch type
    (Fargate has no instance to show)."""
    family, revision = _text(ecs.get("family")), _text(ecs.get("revision"))
    definition = f"{family}:{revision}" if family and revision else family
    arn = _text(ecs.get("task_arn"))
    return [
        Row("ecs_cluster", "Cluster", _text(ecs.get("cluster"))),
        # The task's id (the ARN's end): the whole ARN is four lines on a projector.
        Row("ecs_task", "Task", arn.rsplit("/", 1)[-1] if arn else None),
        Row("ecs_definition", "Task definition", definition),
        Row("ecs_launch_type", "Launch type", _text(ecs.get("launch_type"))),
    ]


def _metadata_notice(instance: Any) -> list[str]:
    """The metadata is fine but something is worth saying: "IMDS v1 (token refused: 405)"
    (a notice, not the backend's Error)."""
    notice = _text(_dig(instance, "metadata", "notice"))
    return [notice] if notice else []


def unavailable_card(problem: str) -> Card:
    return Card(ok=False, problem=problem)


def ago(seconds: float) -> str:
    """ "just now", "40 s ago", "2 min ago": how long ago, as people say it."""
    seconds = max(int(seconds), 0)
    if seconds < 10:
        return "just now"
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"
