"""What uvicorn does not limit with httptools: the size of a request's line and
headers (431 beyond -max-header-bytes), the time a client takes to send them
(-header-timeout) and its body (-body-timeout). Without them one client could
make a worker hold megabytes of headers, and a few thousand slow ones (slowloris)
could hold every socket. The idle keep-alive limit is uvicorn's own
(timeout_keep_alive, set from -idle-timeout).

A subclass of uvicorn's httptools protocol, whose version requirements.lock
pins; tests/test_http_limits.py drives each hook it relies on over raw sockets.
The request line and headers are counted as they arrive, since httptools keeps
a header that has not ended in memory before it tells anyone about it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from awsme.ops.observe import CLIENT_CLOSED, CONNECTION_OUTCOME, new_request_id
from awsme.ops.security_headers import DATA_HEADERS

log = logging.getLogger("awsme.server")

# After refusing a request: read and drop what the client still sends for this
# long before closing, so that it reads the answer rather than a reset.
LINGER_SECONDS = 1.0
# Around the method and URL: " ", " HTTP/1.1\r\n", and the blank line's "\r\n".
_REQUEST_LINE_OVERHEAD = 14
_HEADER_OVERHEAD = 4  # ": " and the line end


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_header_bytes: int = 16384
    header_timeout: float = 10.0
    body_timeout: float = 30.0


class LimitedConfig(uvicorn.Config):
    """uvicorn's Config with the limits; it travels to each worker (pickled) and
    to each connection."""

    def __init__(self, app: Any, *, limits: ConnectionLimits, **options: Any) -> None:
        super().__init__(app, http=LimitedHttpToolsProtocol, **options)
        self.limits = limits


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = getattr(config, "limits", None)
        self.limits = limits if isinstance(limits, ConnectionLimits) else ConnectionLimits()
        self._in_head = True  # the next bytes are a request's line and headers
        self._in_body = False
        self._started_at = 0.0  # when the current phase began
        self._head_began = False  # a byte of the current request's head has come
        self._head_bytes = 0  # bytes of the current head seen so far (a lower bound)
        self._head_sum = 0  # the same, from the parser's callbacks (without the method)
        self._heads_done = 0
        self._deadline: asyncio.TimerHandle | None = None
        self._refused = False

    # -- the connection ------------------------------------------------------------

    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        super().connection_made(transport)
        # As Go's ReadHeaderTimeout: the first request's head is due from the accept.
        self._started_at = self.loop.time()
        self._arm(self.limits.header_timeout, self._head_too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.scope["state"].setdefault(
                CONNECTION_OUTCOME, (CLIENT_CLOSED, "client disconnected")
            )
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering after a refusal: dropped
        head_before, heads_done_before = self._in_head, self._heads_done
        super().data_received(data)
        if self._refused or self.transport.is_closing():
            return
        if self._in_head:
            if head_before and self._heads_done == heads_done_before:
                self._head_bytes += len(data)  # every byte of it was head
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse_head_too_large()
            elif self._head_began and self._deadline is None:
                # Between requests it is uvicorn's keep-alive timer (-idle-timeout).
                self._arm(self.limits.header_timeout, self._head_too_slow)
        elif self._in_body and self._deadline is None:
            self._arm(self.limits.body_timeout, self._body_too_slow)

    # -- the parser's callbacks ----------------------------------------------------

    def on_message_begin(self) -> None:
        if self._refused:
            return
        if not self._in_head or self._deadline is None:
            self._started_at = self.loop.time()
        self._in_head, self._head_began, self._head_bytes = True, True, 0
        self._head_sum = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        if self._refused:
            return
        self._head_sum += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._refused:
            return
        self._head_sum += len(name) + len(value) + _HEADER_OVERHEAD
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._disarm()
        self._heads_done += 1
        self._in_head, self._head_began = False, False
        size = self._head_sum + len(self.parser.get_method()) + _REQUEST_LINE_OVERHEAD
        if max(self._head_bytes, size) > self.limits.max_header_bytes:
            self._refuse_head_too_large()
            return
        self._in_body, self._started_at = True, self.loop.time()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._disarm()
        self._in_head, self._in_body = True, False
        self._head_bytes = 0
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, msg.rstrip("."))

    # -- deadlines and refusals ----------------------------------------------------

    def _arm(self, seconds: float, on_expiry: Any) -> None:
        self._deadline = self.loop.call_at(self._started_at + seconds, on_expiry)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _head_too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # The late head is a pipelined one, behind a request still being
            # answered: close once that answer is out.
            self.cycle.keep_alive = False
            return
        if not self._head_began:
            self.transport.close()  # nothing was asked: nothing to answer
            return
        self._refuse(408, f"request headers not received within {self.limits.header_timeout:g}s")

    def _body_too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self._refuse(408, f"request body not received within {self.limits.body_timeout:g}s")

    def _refuse_head_too_large(self) -> None:
        limit = self.limits.max_header_bytes
        self._refuse(431, f"request line and headers larger than {limit} bytes")

    def _refuse(self, status: int, why: str) -> None:
        """Answer `status` with `why`, stop reading requests, and close after a linger."""
        self._refused = True
        self._disarm()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # A request in the app: its receive() now says disconnected, its answer
            # is dropped, and the access log shows this status.
            cycle.scope["state"].setdefault(CONNECTION_OUTCOME, (status, why))
            cycle.disconnected = True
            cycle.message_event.set()
        if (
            cycle is not None
            and cycle.response_started
            and (self._in_body or not cycle.response_complete)
        ):
            # An answer to this request is out, or part of one: no second one.
            log.info("%s: connection closed: %s", self._client_host(), why)
            self.transport.close()
            return
        request_id = None
        if cycle is not None and self._in_body:  # this request's, as the app logged it
            request_id = cycle.scope["state"].get("request_id")
        request_id = request_id or new_request_id()
        body = f"Error: {why}\n".encode()
        lines = [STATUS_LINE[status]]
        headers = [
            *self.server_state.default_headers,
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (b"x-request-id", request_id.encode()),
            *((name.lower().encode(), value.encode()) for name, value in DATA_HEADERS.items()),
        ]
        lines += [b"%s: %s\r\n" % header for header in headers]
        self.transport.write(b"".join([*lines, b"\r\n", body]))
        log.info(
            "%s %d: %s",
            self._client_host(),
            status,
            why,
            extra={"status": status, "client": self._client_host(), "request_id": request_id},
        )
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.flow.resume_reading()
        self._deadline = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _client_host(self) -> str:
        return self.client[0] if self.client else "-"
