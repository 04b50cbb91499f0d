"""One middleware that watches every request: it gives the request an id (the
caller's X-Request-ID, or a new one) that reaches the logs, the backend and the
response, counts and times it by route template for /metrics, and writes the
access log line that shows each replica's share in `kubectl logs`."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from awsme.ops.logs import request_id_var
from awsme.ops.metrics import Metrics

access_log = logging.getLogger("awsme.access")

REQUEST_ID_HEADER = b"x-request-id"


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            given: str = value.decode("latin-1")
            if 0 < len(given) <= 128 and given.isascii() and given.isprintable():
                return given
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    """The route's template (/api/v1/notes/{note_id}), never the raw path, so
    that the metrics' label values stay few."""
    route: Any = scope.get("route")
    return str(getattr(route, "path", None) or "unmatched")


class RequestObserver:
    def __init__(self, app: ASGIApp, metrics: Metrics, access_log_enabled: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log_enabled = access_log_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id_var.set(rid)
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.duration.labels(method, route).observe(elapsed)
            if self.access_log_enabled:
                client = scope.get("client")
                access_log.info(
                    "%s %s %d %.1fms",
                    method,
                    scope["path"],
                    status,
                    elapsed * 1000,
                    extra={
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client": client[0] if client else None,
                    },
                )
            request_id_var.reset(token)
