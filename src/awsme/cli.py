"""The command line: Go-style flags (and GNU style), the environment, and the modes.

`main(argv) -> int` is the whole program and is what tests call; `run()` is the
console-script entry point behind `app` and `awsme`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from awsme.settings import (
    MODES,
    SettingError,
    Settings,
    declared_settings,
    env_name,
    flag_name,
    parse_bool,
)
from awsme.version import VERSION

EXIT_USAGE = 2


class UsageError(Exception):
    """A command line or environment the program refuses; the message is one line."""


class _Parser(argparse.ArgumentParser):
    # argparse prints usage and exits on its own; we want one line and an exit code.
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _is_boolean(spec: Any) -> bool:
    return isinstance(spec.default, bool)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="app", add_help=False, allow_abbrev=False)
    parser.add_argument("-h", "-help", "--help", dest="help", nargs="?", const="true")
    parser.add_argument("-version", "--version", dest="version", nargs="?", const="true")
    for spec in declared_settings():
        names = [flag_name(spec), *spec.metadata["aliases"]]
        flags = [form for name in names for form in (f"-{name}", f"--{name}")]
        if _is_boolean(spec):
            # Go's `-flag` means true; `-flag=false` is how Go users turn one off.
            parser.add_argument(*flags, dest=spec.name, nargs="?", const="true")
        else:
            parser.add_argument(*flags, dest=spec.name)
    return parser


USAGE = "Usage: app -mode=" + "|".join(MODES) + " [flags]"
MODE_HELP = {
    "backend": "the machine's metadata and the notes as JSON (GET /, /api/v1/...)",
    "frontend": "the info card, built from a call to -backend-service",
    "standalone": "both roles in one process: the frontend on -port, the backend on -backend-port",
    "imds": "the EC2 instance metadata simulator, on 127.0.0.1",
    "check": "probe -url once and exit 0 (2xx, 3xx) or 1, for images without curl",
    "load": "send requests to -url and show which replicas answer (-c, -rate, -duration)",
}


def help_text() -> str:
    lines = [
        f"awsme {VERSION}: a demo microservice that tells where it runs.",
        "",
        USAGE,
        "",
        "Modes:",
        *(f"  {mode:<12}{MODE_HELP[mode]}" for mode in MODES),
        f"  {'(none)':<12}with -run-migrations: create and migrate the database, then exit",
        "",
        "Flags take -name=value, -name value or --name=value; each one can also be set",
        "with the environment variable shown (the command line wins).",
        "",
        "  -version",
        "        print the version and exit",
    ]
    for spec in declared_settings():
        metavar = "" if _is_boolean(spec) else f" {spec.metadata['metavar'] or 'VALUE'}"
        default = spec.default
        if isinstance(default, bool):
            default = str(default).lower()
        shown_default = "" if default == "" else f" (default {default})"
        also = "".join(f", -{alias}" for alias in spec.metadata["aliases"])
        lines.append(f"  -{flag_name(spec)}{also}{metavar}    ${env_name(spec)}")
        lines.append(f"        {spec.metadata['help']}{shown_default}")
    return "\n".join(lines) + "\n"


def parse_settings(argv: Sequence[str], environ: Mapping[str, str]) -> tuple[Settings, Any]:
    """Flags over environment over defaults, each value checked by its setting's parser."""
    parser = build_parser()
    namespace, extra = parser.parse_known_args(list(argv))
    if extra:
        first = extra[0]
        if first.startswith("-"):
            raise UsageError(f"flag provided but not defined: {first.split('=', 1)[0]}")
        raise UsageError(f"unexpected argument: {first} (flags start with -)")

    values: dict[str, Any] = {}
    given: set[str] = set()
    for spec in declared_settings():
        from_flag = getattr(namespace, spec.name)
        if from_flag is not None:
            text, where = from_flag, f"flag -{flag_name(spec)}"
        elif env_name(spec) in environ:
            text, where = environ[env_name(spec)], env_name(spec)
        else:
            continue
        try:
            values[spec.name] = spec.metadata["parse"](text)
        except SettingError as error:
            shown = "<redacted>" if spec.metadata["secret"] else text
            raise UsageError(f'invalid value "{shown}" for {where}: {error}') from None
        given.add(spec.name)
    return Settings(**values, given=frozenset(given)), namespace


def _flag_is_on(value: str | None, name: str) -> bool:
    if value is None:
        return False
    try:
        return parse_bool(value)
    except SettingError as error:
        raise UsageError(f'invalid value "{value}" for flag -{name}: {error}') from None


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    try:
        settings, namespace = parse_settings(argv, environ)
        if _flag_is_on(namespace.help, "help"):
            sys.stdout.write(help_text())
            return 0
        if _flag_is_on(namespace.version, "version"):
            print(f"Version {VERSION}")
            return 0
        return _run_mode(settings, environ)
    except UsageError as error:
        print(f"app: {error} (see app -help)", file=sys.stderr)
        return EXIT_USAGE


def _run_mode(settings: Settings, environ: Mapping[str, str]) -> int:
    # Imported here so that -help, -version and usage errors stay instant.
    from awsme import server

    if settings.mode not in MODES:
        if settings.mode == "" and settings.run_migrations:
            return server.migrate_only(settings)
        if settings.mode == "":
            print(f"{USAGE}\nRun app -help to see every mode and flag.", file=sys.stderr)
            return EXIT_USAGE
        print(
            f"Unknown mode: {settings.mode}, should be either backend or frontend "
            f"(or {', '.join(m for m in MODES if m not in ('backend', 'frontend'))})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return server.serve(settings, environ)


def run() -> None:
    sys.exit(main())
