"""Logging: text for people, JSON for collectors, with the request id on every
line written while a request is being served. Nothing here ever logs headers,
so cookies, tokens and passwords cannot reach a log line from a request."""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

import orjson

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

# Attributes every LogRecord has; anything else on a record was passed in `extra`.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and value is not None:
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(document, default=str).decode()


# Control characters (C0, DEL, C1) and Unicode's line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """`text` on one line: a value from a request can never start a line of its own."""
    return _CONTROL.sub(_escape_one, text)


class TextFormatter(logging.Formatter):
    """One record per line, whatever the values in it: control characters are
    escaped, and the lines of a traceback are indented, so that a line that
    starts at the margin always starts a record."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._second = -1  # the second last written, and how it was written
        self._second_text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # logging's default format (2026-11-29 08:31:57,123), with the date and time
        # made once a second rather than once a line: the access log writes one
        # line per request.
        second = int(record.created)
        if second != self._second:
            self._second_text = time.strftime(self.default_time_format, self.converter(second))
            self._second = second
        return f"{self._second_text},{int(record.msecs):03d}"

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_controls(super().formatMessage(record))

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        first, newline, rest = line.partition("\n")
        request_id = getattr(record, "request_id", None)
        if request_id:
            first = f"{first} request_id={escape_controls(str(request_id))}"
        if not newline:
            return first
        details = "\n".join("    " + escape_controls(part) for part in rest.split("\n"))
        return f"{first}\n{details}"


def configure_logging(level: str, log_format: str) -> None:
    # Neither format shows the caller, thread or process: the logging HOWTO's
    # "Optimization" settings skip collecting them for every record (the access
    # log writes one per request).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's loggers go through the root handler, in the same format; its
    # access log is replaced by awsme.ops.observe's (no query strings, one line).
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every request at INFO; alembic narrates each step.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
