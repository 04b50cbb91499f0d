"""The frontend's calls to its backend.

By default every call opens a fresh connection and says `Connection: close`, as
the Go app did: a Kubernetes Service or an L4 balancer picks a backend per
connection, so that is what lets consecutive page loads land on different
replicas. `-backend-keepalive` pools connections instead (faster, stickier).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from starlette.requests import Request

from awsme.version import VERSION

REQUEST_ID = "X-Request-ID"
HEALTH_CACHE_SECONDS = 1.0


class BackendUnavailable(Exception):
    """The backend could not be reached or did not answer in time; says which and how."""

    def __init__(self, message: str, status: int = 503) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class BackendAnswer:
    status: int
    body: bytes
    content_type: str


def forwarded_headers(request: Request) -> dict[str, str]:
    """What the backend should know about the browser's request, and nothing more:
    no cookies, no Authorization. The request id is the one RequestObserver gave
    this request, so one id follows it from browser to backend and back."""
    client = request.client.host if request.client else ""
    chain = request.headers.get("X-Forwarded-For", "")
    headers = {
        "X-Forwarded-For": f"{chain}, {client}" if chain else client,
        "X-Forwarded-Proto": request.url.scheme,
        "X-Forwarded-Host": request.headers.get("host", ""),
        REQUEST_ID: request.state.request_id,
    }
    if user_agent := request.headers.get("user-agent"):
        headers["User-Agent"] = user_agent  # shows in the backend's LBRequest, as in the Go app
    return headers


class BackendClient:
    def __init__(
        self,
        base_url: str,
        *,
        keepalive: bool,
        connect_timeout: float,
        read_timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive = keepalive
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=32 if keepalive else 0)
        headers = {"User-Agent": f"awsme-frontend/{VERSION}"}
        if not keepalive:
            headers["Connection"] = "close"
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=limits,
            headers=headers,
            trust_env=False,  # a proxy for the internet must not carry calls to the backend
            follow_redirects=False,
            transport=transport,
        )
        self._health: tuple[float, str | None] | None = None
        # Told of every call: (outcome, seconds); the app's metrics listen.
        self.observe: Callable[[str, float], None] = lambda outcome, seconds: None
        self._health_lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self._client.aclose()

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
            # httpx's read timeout is per read: a backend that trickles bytes would
            # never trip it. The whole call has a deadline too.
            async with asyncio.timeout(self.connect_timeout + self.read_timeout):
                response = await self._client.request(
                    method, path, headers=send_headers, content=content
                )
        except (httpx.HTTPError, TimeoutError) as error:
            self.observe("unavailable", time.perf_counter() - started)
            raise self._unavailable(error) from None
        self.observe(str(response.status_code), time.perf_counter() - started)
        return BackendAnswer(
            response.status_code, response.content, response.headers.get("content-type", "")
        )

    def _unavailable(self, error: Exception) -> BackendUnavailable:
        """Say which failure it was, in words a workshop attendee can act on."""
        where = f"the backend at {self.base_url}"
        if isinstance(error, httpx.ConnectTimeout):
            return BackendUnavailable(f"{where} did not accept a connection in time")
        if isinstance(error, httpx.TimeoutException | TimeoutError):
            return BackendUnavailable(f"{where} did not answer within {self.read_timeout:g}s")
        if isinstance(error, httpx.ConnectError):
            return BackendUnavailable(f"{where} refused the connection ({error})")
        return BackendUnavailable(f"the call to {where} failed: {error}")

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
