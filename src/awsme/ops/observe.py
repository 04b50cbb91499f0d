"""One middleware that watches every request: it gives the request an id (the
caller's X-Request-ID when it is safe to log, or a new one) that reaches the
logs, the backend and the response, counts and times it by route template for
/metrics, and writes the access log line that shows each replica's share in
`kubectl logs`.

It is also where a request ends badly. An exception becomes a 500 answered from
here, inside the layers that add the request id and the security headers, so
that errors carry them too (Starlette's own error page is sent from outside
every middleware). A client that hung up is not an error: it is logged at INFO
and counted with status 499, as nginx does, with no traceback."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from awsme.ops.logs import request_id_var
from awsme.ops.metrics import Metrics

access_log = logging.getLogger("awsme.access")
log = logging.getLogger("awsme.errors")

REQUEST_ID_HEADER = b"x-request-id"
SERVED_BY = "X-Served-By"
SERVED_BY_HEADER = SERVED_BY.lower().encode()
OWN_HEADERS = frozenset({REQUEST_ID_HEADER, SERVED_BY_HEADER})
BACKEND_SERVED_BY = "X-Backend-Served-By"  # the frontend's: which backend made the answer
# What a request id may be: enough for UUIDs, trace ids and ULIDs, and nothing
# that could split a log line or pose as another field in it.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
CLIENT_CLOSED = 499  # nginx's status for "the client closed the connection first"
# Where the server (awsme.http_limits) notes in the request's scope["state"] that it
# ended the connection early: (status, why), e.g. (499, "client disconnected").
CONNECTION_OUTCOME = "awsme.connection_outcome"
ERROR_BODY = b"Error: internal server error\n"


def new_request_id() -> str:
    return uuid.uuid4().hex


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            given: str = value.decode("latin-1")
            if SAFE_REQUEST_ID.fullmatch(given):
                return given
            break
    return new_request_id()


def route_template(scope: Scope) -> str:
    """The route's template (/api/v1/notes/{note_id}), never the raw path, so
    that the metrics' label values stay few."""
    route: Any = scope.get("route")
    return str(getattr(route, "path", None) or "unmatched")


def connection_outcome(scope: Scope) -> tuple[int, str] | None:
    outcome: tuple[int, str] | None = scope.get("state", {}).get(CONNECTION_OUTCOME)
    return outcome


class RequestObserver:
    def __init__(
        self, app: ASGIApp, metrics: Metrics, served_by: str, access_log_enabled: bool = True
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.served_by = served_by
        self.served_by_bytes = served_by.encode("latin-1")
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
        response_started = False
        note = ""

        async def send_observed(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                # Ours, replacing any the app set. Which replica answered, on every
                # answer: what a load generator or `curl -I` behind a balancer counts.
                message["headers"] = [
                    *(h for h in message.get("headers", ()) if h[0].lower() not in OWN_HEADERS),
                    (REQUEST_ID_HEADER, rid.encode("latin-1")),
                    (SERVED_BY_HEADER, self.served_by_bytes),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        except ClientDisconnect:
            status, note = CLIENT_CLOSED, "client disconnected"
        except Exception:
            if connection_outcome(scope) is None:
                log.exception("%s %s failed", scope["method"], scope["path"])
                if not response_started:
                    await self._answer_500(send_observed)
        finally:
            if outcome := connection_outcome(scope):
                status, note = outcome
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            method = scope["method"]
            self.metrics.observe_request(method, route, status, elapsed)
            if self.access_log_enabled or note:
                self._log(scope, method, route, status, elapsed, note)
            request_id_var.reset(token)

    @staticmethod
    async def _answer_500(send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(ERROR_BODY)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": ERROR_BODY})

    @staticmethod
    def _log(scope: Scope, method: str, route: str, status: int, elapsed: float, note: str) -> None:
        client = scope.get("client")
        access_log.info(
            "%s %s %d %.1fms%s",
            method,
            scope["path"],
            status,
            elapsed * 1000,
            f" ({note})" if note else "",
            extra={
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "client": client[0] if client else None,
                **({"outcome": note} if note else {}),
            },
        )
