"""The frontend's calls to its backend.

By default every call opens a fresh connection and says `Connection: close`, as
the Go app did: a Kubernetes Service or an L4 balancer picks a backend per
connection, so that is what lets consecutive page loads land on different
replicas. `-backend-keepalive` pools connections instead (faster, stickier).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from starlette.requests import Request

from awsme.version import VERSION

log = logging.getLogger(__name__)

REQUEST_ID = "X-Request-ID"
HEALTH_CACHE_SECONDS = 1.0


class BackendUnavailable(Exception):
    """The backend could not be reached or did not answer in time; says which and how."""

    def __init__(self, message: str, status: int = 503, *, may_have_arrived: bool = False) -> None:
        super().__init__(message)
        self.status = status
        # True when the request may have reached the backend (no answer in time,
        # the connection dropped mid-call): a write may have happened.
        self.may_have_arrived = may_have_arrived


@dataclass(frozen=True, slots=True)
class BackendAnswer:
    status: int
    body: bytes
    content_type: str


# What the frontend passes on of an incoming X-Forwarded-For: the hops nearest to it,
# each no longer than an address, so a client cannot make every card it asks for
# (the backend shows the chain) carry megabytes.
FORWARDED_HOPS = 8
FORWARDED_HOP_MAX = 64


def forwarded_chain(value: str) -> list[str]:
    hops = [hop.strip() for hop in value.split(",")]
    hops = [hop for hop in hops if hop and len(hop) <= FORWARDED_HOP_MAX]
    return hops[-FORWARDED_HOPS:]


def forwarded_headers(request: Request) -> dict[str, str]:
    """What the backend should know about the browser's request, and nothing more:
    no cookies, no Authorization. The request id is the one RequestObserver gave
    this request, so one id follows it from browser to backend and back."""
    client = request.client.host if request.client else ""
    chain = [*forwarded_chain(request.headers.get("X-Forwarded-For", "")), client]
    headers = {
        "X-Forwarded-For": ", ".join(chain),
        "X-Forwarded-Proto": request.url.scheme,
        "X-Forwarded-Host": request.headers.get("host", ""),
        REQUEST_ID: request.state.request_id,
    }
    if user_agent := request.headers.get("user-agent"):
        headers["User-Agent"] = user_agent  # shows in the backend's LBRequest, as in the Go app
    return headers


class BackendClient:
    """Calls to one backend over aiohttp: on this machine it spends a quarter of
    httpx's CPU per call (measured: 0.77 ms against 2.8 ms with a fresh
    connection each time), and these calls are the frontend's hot path."""

    def __init__(
        self,
        base_url: str,
        *,
        keepalive: bool,
        connect_timeout: float,
        read_timeout: float,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive = keepalive
        self._headers = {"User-Agent": f"awsme-frontend/{VERSION}"}
        if not keepalive:
            self._headers["Connection"] = "close"
        # sock_read alone is per read: a backend that trickles bytes would never
        # trip it, so the whole call has a deadline too.
        self._timeout = aiohttp.ClientTimeout(
            total=connect_timeout + read_timeout,
            sock_connect=connect_timeout,
            sock_read=read_timeout,
        )
        self._session: aiohttp.ClientSession | None = None
        self._health: tuple[float, str | None] | None = None
        # Told of every call: (outcome, seconds); the app's metrics listen.
        self.observe: Callable[[str, float], None] = lambda outcome, seconds: None
        self._health_lock = asyncio.Lock()

    def _open(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running loop, as aiohttp requires.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100, force_close=not self.keepalive),
                timeout=self._timeout,
                headers=self._headers,
                trust_env=False,  # a proxy for the internet must not carry calls to the backend
                auto_decompress=True,
            )
            # aiohttp sends a GET again, on a new connection, when the first one is
            # closed on it: behind a per-connection balancer that is another replica.
            # One card is one call to one replica, so a dead one shows as a failure
            # on the card instead of hiding behind its neighbour (no public switch).
            self._session._retry_connection = False
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> BackendAnswer:
        send_headers = dict(headers or {})
        if content is not None:
            send_headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            async with self._open().request(
                method,
                self.base_url + path,
                headers=send_headers,
                data=content,
                allow_redirects=False,
            ) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            self.observe("unavailable", time.perf_counter() - started)
            unavailable = self._unavailable(error)
            # People read the sentence; whoever debugs reads the library's own words.
            log.warning(
                "backend call %s %s%s failed: %s (%s: %s)",
                method,
                self.base_url,
                path,
                unavailable,
                type(error).__name__,
                error,
            )
            raise unavailable from None
        self.observe(str(response.status), time.perf_counter() - started)
        return BackendAnswer(response.status, body, response.headers.get("Content-Type", ""))

    def _unavailable(self, error: Exception) -> BackendUnavailable:
        """Say which failure it was, in words a workshop attendee can act on (the
        library's text, such as "Cannot write to closing transport", goes to the log)."""
        if isinstance(error, aiohttp.ConnectionTimeoutError):
            return BackendUnavailable(
                f"backend did not accept a connection within {self.connect_timeout:g} s"
            )
        if isinstance(error, TimeoutError):  # aiohttp's timeouts are TimeoutErrors too
            return BackendUnavailable(
                f"backend did not answer within {self.read_timeout:g} s", may_have_arrived=True
            )
        if isinstance(error, aiohttp.ClientConnectorDNSError):
            host = error.host
            return BackendUnavailable(f"the backend's name {host} does not resolve")
        if isinstance(error, aiohttp.ClientConnectorError):
            return BackendUnavailable(f"no backend is listening at {self.base_url}")
        if isinstance(
            error,
            aiohttp.ServerDisconnectedError
            | aiohttp.ClientConnectionResetError
            | aiohttp.ClientOSError
            | aiohttp.ClientPayloadError,
        ):
            # The request may have been read and acted on before the connection went.
            return BackendUnavailable("backend closed the connection", may_have_arrived=True)
        return BackendUnavailable(
            f"the call to the backend at {self.base_url} failed", may_have_arrived=True
        )

    async def info(self, headers: dict[str, str]) -> dict[str, Any]:
        """The backend's `GET /` JSON (a Go or an awsme backend)."""
        answer = await self.call("GET", "/", headers=headers)
        if answer.status >= 500:
            first_line = answer.body.decode("utf-8", "replace").strip().splitlines()[:1]
            raise BackendUnavailable(
                f"the backend answered {answer.status}: {first_line[0] if first_line else ''}"
            )
        try:
            document = orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            document = None
        if answer.status != 200 or not isinstance(document, dict):
            raise BackendUnavailable(
                f"the backend answered {answer.status} with something that is not awsme's JSON",
                status=502,
            )
        return document

    async def health(self) -> str | None:
        """None when the backend's /healthz says 200, else what is wrong.

        Cached for about a second: probes of many pods must not multiply into a
        storm on the backend, and concurrent probes share one call.
        """
        now = time.monotonic()
        if self._health and now - self._health[0] < HEALTH_CACHE_SECONDS:
            return self._health[1]
        async with self._health_lock:
            if self._health and time.monotonic() - self._health[0] < HEALTH_CACHE_SECONDS:
                return self._health[1]
            try:
                answer = await self.call("GET", "/healthz")
                problem = (
                    None
                    if answer.status == 200
                    else f"the backend's /healthz answered {answer.status}: "
                    + answer.body.decode("utf-8", "replace").strip()
                )
            except BackendUnavailable as error:
                problem = str(error)
            self._health = (time.monotonic(), problem)
            return problem
