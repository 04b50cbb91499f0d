"""The one frozen settings object, and the declaration of every flag.

Each setting is declared once, as a field of `Settings` with its default, help
text and parser; the command line (`-name`, `--name`) and the environment
(`AWSME_NAME`) are both derived from that field by `awsme.cli`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from awsme.colors import NAMED_COLORS

MODES = ("backend", "frontend", "standalone", "imds", "check", "load")
METADATA_SOURCES = ("auto", "ec2", "ecs", "gce", "azure", "local", "simulated")
LOG_LEVELS = ("debug", "info", "warning", "error")


class SettingError(ValueError):
    """A value that a setting refuses; the message names what is wrong."""


# Parsers turn the text of a flag or variable into the setting's value.


def parse_str(text: str) -> str:
    return text


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "t", "true", "yes", "on"):
        return True
    if lowered in ("0", "f", "false", "no", "off"):
        return False
    raise SettingError("not a boolean (use true or false)")


_WHOLE = re.compile(r"([+-]?)0*([0-9]+)")


def parse_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        number = _WHOLE.fullmatch(text.strip())
        if not number:
            raise SettingError("not a whole number")
        sign, digits = number.groups()
        if len(digits) > 18:  # measured before int(), which refuses 4,300 digits
            raise SettingError(f"out of range ({low} to {high})")
        value = int(sign + digits)
        if not low <= value <= high:
            raise SettingError(f"out of range ({low} to {high})")
        return value

    return parse


def parse_float(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise SettingError("not a number") from None
        if not low <= value <= high:  # also refuses nan
            raise SettingError(f"out of range ({low:g} to {high:g})")
        return value

    return parse


def parse_choice(*choices: str, allow_empty: bool = False) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value in choices or (allow_empty and value == ""):
            return value
        raise SettingError(f"should be one of {', '.join(choices)}")

    return parse


def parse_http_url(text: str) -> str:
    value = text.strip().rstrip("/")
    try:
        parts = urlsplit(value)
        host, _port = parts.hostname, parts.port  # both raise on malformed URLs
    except ValueError:
        raise SettingError("not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise SettingError("not an http:// or https:// URL")
    return value


def parse_optional_http_url(text: str) -> str:
    return "" if not text.strip() else parse_http_url(text)


parse_port = parse_int(1, 65535)

_PREFIX = re.compile(r"(/[A-Za-z0-9._~-]+)+")
_HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
UI_MESSAGE_MAX = 120


def parse_path_prefix(text: str) -> str:
    value = text.strip().rstrip("/")
    if value and not value.startswith("/"):
        value = "/" + value
    if value and not _PREFIX.fullmatch(value):
        raise SettingError("should be a path like /awsme (letters, digits, . _ ~ -)")
    return value


def parse_color(text: str) -> str:
    """A hex colour or a CSS colour name, as #rrggbb[aa]: it ends up in a stylesheet,
    so nothing else may pass (not even a valid-looking word that CSS would ignore)."""
    value = text.strip().lower()
    if not value:
        return ""
    if value in NAMED_COLORS:
        return NAMED_COLORS[value]
    if not _HEX_COLOR.fullmatch(value):
        raise SettingError("not a CSS colour (use #rgb, #rrggbb or a name such as teal)")
    digits = value[1:]
    if len(digits) in (3, 4):
        digits = "".join(c * 2 for c in digits)
    return "#" + digits


def parse_ui_message(text: str) -> str:
    """One line of text for the banner: shown escaped, so any character may be in it,
    but a line break or a paragraph would break the banner's fixed height."""
    value = " ".join(text.split())
    if len(value) > UI_MESSAGE_MAX:
        raise SettingError(f"longer than {UI_MESSAGE_MAX} characters ({len(value)})")
    if any(not char.isprintable() for char in value):
        raise SettingError("contains control characters")
    return value


def setting(
    default: Any,
    help: str,
    parse: Callable[[str], Any] = parse_str,
    *,
    metavar: str = "",
    secret: bool = False,
    aliases: tuple[str, ...] = (),
) -> Any:
    """Declare a setting: its default, its help line and how to read it from text
    (and short flag names that tools like it have taught, e.g. wrk's -c)."""
    return field(
        default=default,
        metadata={
            "help": help,
            "parse": parse,
            "metavar": metavar,
            "secret": secret,
            "aliases": aliases,
        },
    )


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the program was told, parsed and checked. Built once at the edge."""

    mode: str = setting(
        "",
        "backend, frontend, standalone (both in one process), imds (the EC2 metadata "
        "simulator), check (probe -url and exit) or load (send requests to -url); empty "
        "with -run-migrations: migrate, then exit",
        metavar="MODE",
    )
    host: str = setting(
        "", "listen address (default 0.0.0.0; 127.0.0.1 for -mode=imds)", metavar="ADDR"
    )
    port: int = setting(8080, "listen port", parse_port, metavar="PORT")
    backend_service: str = setting(
        "http://127.0.0.1:8081", "URL of the backend (frontend)", parse_http_url, metavar="URL"
    )
    backend_keepalive: bool = setting(
        False,
        "frontend: reuse connections to the backend (faster; but a per-connection balancer "
        "then keeps sending this frontend to the same replica)",
        parse_bool,
    )
    backend_connect_timeout: float = setting(
        1.0,
        "frontend: seconds to connect to the backend",
        parse_float(0.05, 60),
        metavar="SECONDS",
    )
    backend_timeout: float = setting(
        3.0,
        "frontend: seconds to wait for the backend's answer",
        parse_float(0.05, 300),
        metavar="SECONDS",
    )
    path_prefix: str = setting(
        "",
        "frontend: serve the pages under this path (behind an ingress), e.g. /awsme",
        parse_path_prefix,
        metavar="PATH",
    )
    ui_color: str = setting(
        "",
        "frontend: the banner colour (#rrggbb or a CSS colour name; default: from the version)",
        parse_color,
        metavar="COLOR",
    )
    ui_message: str = setting(
        "",
        f"frontend: a line of text in the banner, e.g. which rollout this is "
        f"(up to {UI_MESSAGE_MAX} characters)",
        parse_ui_message,
        metavar="TEXT",
    )
    refresh_interval: float = setting(
        1.0,
        "frontend: seconds between polls when auto-refresh is on",
        parse_float(0.2, 60),
        metavar="SECONDS",
    )
    backend_port: int = setting(8081, "backend port in standalone mode", parse_port, metavar="PORT")
    workers: int = setting(1, "server processes sharing the port", parse_int(1, 64), metavar="N")
    run_migrations: bool = setting(
        False, "create the database and bring its schema up to date before serving", parse_bool
    )
    delay: float = setting(
        0.0, "seconds to wait before listening", parse_float(0, 3600), metavar="SECONDS"
    )
    shutdown_delay: float = setting(
        0.0,
        "seconds to keep serving after SIGTERM while /readyz says 503 (let endpoints deregister)",
        parse_float(0, 300),
        metavar="SECONDS",
    )
    shutdown_timeout: float = setting(
        10.0,
        "seconds to finish in-flight requests once draining",
        parse_float(0, 300),
        metavar="SECONDS",
    )
    fail_percent: float = setting(
        0.0,
        "backend: answer this percentage of / requests with 503",
        parse_float(0, 100),
        metavar="PERCENT",
    )
    db_host: str = setting("db", "MySQL/MariaDB host", metavar="HOST")
    db_port: int = setting(3306, "MySQL/MariaDB port", parse_port, metavar="PORT")
    db_user: str = setting("root", "MySQL/MariaDB user", metavar="USER")
    db_password: str = setting("root", "MySQL/MariaDB password", metavar="PASSWORD", secret=True)
    db_password_file: str = setting(
        "", "read the database password from this file (a mounted secret)", metavar="PATH"
    )
    db_name: str = setting("sample_app", "database name", metavar="NAME")
    db_url: str = setting(
        "",
        "full database URL (sqlite:///path, mysql://..., postgresql://...); wins over -db-*",
        metavar="URL",
        secret=True,
    )
    db_timeout: float = setting(
        3.0,
        "seconds before a database query gives up",
        parse_float(0.1, 60),
        metavar="SECONDS",
    )
    note_max_length: int = setting(
        # 4000: the width of the note column (awsme.notes.schema.NOTE_COLUMN_LENGTH)
        1000,
        "longest note accepted, in characters",
        parse_int(1, 4000),
        metavar="N",
    )
    notes_limit: int = setting(
        100,
        "backend: how many of the newest notes GET / returns",
        parse_int(0, 10000),
        metavar="N",
    )
    notes_cache: float = setting(
        0.0,
        "backend: seconds each process may reuse the notes GET / read (0: read them on "
        "every request, so a note added through any replica shows at once). For load "
        "tests: a note added through another replica or process can be missing for up "
        "to this long",
        parse_float(0, 1),
        metavar="SECONDS",
    )
    notes_page_max: int = setting(
        100, "backend: largest page /api/v1/notes returns", parse_int(1, 1000), metavar="N"
    )
    max_body_bytes: int = setting(
        65536,
        "largest request body accepted, in bytes",
        parse_int(1024, 16 * 1024 * 1024),
        metavar="BYTES",
    )
    max_header_bytes: int = setting(
        16384,
        "largest request line plus headers accepted, in bytes; more gets 431",
        parse_int(1024, 1024 * 1024),
        metavar="BYTES",
    )
    header_timeout: float = setting(
        10.0,
        "seconds a client has to send a request's line and headers, from its first byte "
        "(from the connection's opening for the first request); then 408 and close",
        parse_float(0.1, 600),
        metavar="SECONDS",
    )
    body_timeout: float = setting(
        30.0,
        "seconds a client has to send a request's whole body, from the end of its headers; "
        "then 408 and close",
        parse_float(0.1, 3600),
        metavar="SECONDS",
    )
    idle_timeout: float = setting(
        65.0,
        "seconds a keep-alive connection may wait for its next request (longer than the "
        "60 s an AWS load balancer keeps idle connections to its targets)",
        parse_float(0.1, 3600),
        metavar="SECONDS",
    )
    metadata: str = setting(
        "auto",
        "where metadata comes from: " + ", ".join(METADATA_SOURCES),
        parse_choice(*METADATA_SOURCES),
        metavar="SOURCE",
    )
    metadata_endpoint: str = setting(
        "",
        "override the metadata service URL (also AWS_EC2_METADATA_SERVICE_ENDPOINT, "
        "GCE_METADATA_HOST)",
        parse_optional_http_url,
        metavar="URL",
    )
    metadata_timeout: float = setting(
        2.0,
        "seconds before a metadata request gives up",
        parse_float(0.05, 60),
        metavar="SECONDS",
    )
    metadata_refresh: float = setting(
        300.0,
        "seconds between background refreshes of the instance metadata",
        parse_float(1, 86400),
        metavar="SECONDS",
    )
    events_refresh: float = setting(
        5.0,
        "seconds between checks for spot interruptions and maintenance events",
        parse_float(0.5, 3600),
        metavar="SECONDS",
    )
    dmi_dir: str = setting(
        "/sys/class/dmi/id",
        "where -metadata=auto reads the firmware's DMI strings",
        metavar="DIR",
    )
    cgroup_dir: str = setting(
        "/sys/fs/cgroup", "where the container's cgroup limits are read", metavar="DIR"
    )
    imds_data: str = setting(
        "",
        "simulator: JSON file with the instance's values (default: built in)",
        metavar="PATH",
    )
    imds_require_token: bool = setting(
        False, "simulator: refuse IMDSv1 requests (HttpTokens=required)", parse_bool
    )
    imds_spot: str = setting(
        "",
        "simulator: announce a spot interruption (terminate, stop or hibernate) in two minutes",
        parse_choice("terminate", "stop", "hibernate", allow_empty=True),
        metavar="ACTION",
    )
    log_format: str = setting(
        "text", "log format: text or json", parse_choice("text", "json"), metavar="FORMAT"
    )
    access_log: bool = setting(
        True, "log one line per request (method, route, status, duration, client, id)", parse_bool
    )
    chaos: bool = setting(
        False,
        "serve /chaos: switches that fail probes, slow or fail routes, burn CPU and hold memory",
        parse_bool,
    )
    url: str = setting(
        "",
        "check and load modes: the URL to probe or to load "
        "(app -mode=check -url=http://127.0.0.1:8080/healthz)",
        parse_optional_http_url,
        metavar="URL",
    )
    connections: int = setting(
        8,
        "load mode: connections sending requests at once",
        parse_int(1, 1024),
        metavar="N",
        aliases=("c",),
    )
    rate: float = setting(
        0.0,
        "load mode: requests per second in all (0: as fast as the connections go)",
        parse_float(0, 100000),
        metavar="PER_SECOND",
    )
    duration: float = setting(
        10.0, "load mode: seconds to send requests for", parse_float(0.1, 86400), metavar="SECONDS"
    )
    fresh_connections: bool = setting(
        False,
        "load mode: a new connection per request, so that a per-connection balancer "
        "(a Kubernetes Service) spreads them",
        parse_bool,
    )
    load_timeout: float = setting(
        10.0,
        "load mode: seconds before a request gives up",
        parse_float(0.05, 300),
        metavar="SECONDS",
    )
    json_summary: bool = setting(
        False, "load mode: print the summary as JSON", parse_bool, aliases=("json",)
    )
    check_timeout: float = setting(
        3.0,
        "check mode: seconds before the probe gives up",
        parse_float(0.05, 300),
        metavar="SECONDS",
    )
    log_level: str = setting(
        "info",
        "log level: " + ", ".join(LOG_LEVELS),
        parse_choice(*LOG_LEVELS),
        metavar="LEVEL",
    )
    # Which settings came from a flag or the environment rather than a default:
    # the database choice depends on whether any -db-* setting was given.
    given: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    @property
    def listen_host(self) -> str:
        if self.host:
            return self.host
        return "127.0.0.1" if self.mode == "imds" else "0.0.0.0"

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict with secrets hidden, for logs and the card."""
        shown: dict[str, Any] = {}
        for spec in declared_settings():
            value = getattr(self, spec.name)
            if spec.metadata["secret"] and value:
                value = "<redacted>"
            shown[spec.name] = value
        return shown


def declared_settings() -> tuple[dataclasses.Field[Any], ...]:
    """Every setting that is a flag (all fields but the bookkeeping ones)."""
    return tuple(f for f in dataclasses.fields(Settings) if "help" in f.metadata)


def flag_name(spec: dataclasses.Field[Any]) -> str:
    return spec.name.replace("_", "-")


def env_name(spec: dataclasses.Field[Any]) -> str:
    return "AWSME_" + spec.name.upper()
