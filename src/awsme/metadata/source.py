"""The interface every metadata source implements, and the HTTP client they share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from awsme.metadata.model import InstanceEvents, InstanceMetadata

if TYPE_CHECKING:  # imported where a client is made: the frontend never makes one
    import httpx

# Metadata services answer in milliseconds on a healthy host; anything slower is
# a sign of a network that will not answer at all, so keep requests short.
DEFAULT_CONNECT_TIMEOUT = 1.0
DEFAULT_READ_TIMEOUT = 2.0


class MetadataSource(Protocol):
    """Fetches instance metadata from one place (a metadata service, the host itself)."""

    name: str

    async def fetch(self) -> InstanceMetadata:
        """Return the slow-changing facts; raise MetadataError when they cannot be had."""
        ...

    async def fetch_events(self) -> InstanceEvents:
        """Return the volatile facts (spot interruption, maintenance); raise MetadataError."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def make_http_client(
    base_url: str,
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    headers: dict[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """A client for one metadata service.

    trust_env is off: an HTTP(S)_PROXY meant for the internet must never carry
    metadata requests (they would leave the machine, and answer for another host).
    """
    import httpx

    timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout,
        headers=headers,
        trust_env=False,
        follow_redirects=False,
        transport=transport,
    )
