"""Fetch metadata once, serve it from memory, refresh it in the background.

The Go app asked the metadata service about ten times per request, which is how
real instances get throttled. Here a request never waits on the service once
the cache is warm, a burst of cold requests shares one fetch, and when the
service dies the last good values keep being served with an error that says
how stale they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from awsme.metadata.model import (
    NO_EVENTS,
    ContainerInfo,
    InstanceEvents,
    InstanceMetadata,
    KubernetesInfo,
    MetadataError,
)
from awsme.metadata.source import MetadataSource

log = logging.getLogger(__name__)

# A cold cache whose first fetch failed waits this long before a request may
# trigger another attempt, so that a dead service is not hammered by traffic.
COLD_RETRY_INTERVAL = 1.0
MAX_RETRY_BACKOFF = 30.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What is known at one moment: the values, their age and what went wrong."""

    source: str  # the source's name, known even before it has answered
    metadata: InstanceMetadata | None
    events: InstanceEvents
    kubernetes: KubernetesInfo
    container: ContainerInfo
    fetched_at: float | None  # wall-clock time of the last good fetch of `metadata`
    error: str | None  # the metadata is missing or stale, and why
    age_seconds: float | None = field(default=None)
    notice: str | None = field(default=None)  # the metadata is fine; worth saying anyway


class MetadataCache:
    def __init__(
        self,
        source: MetadataSource,
        *,
        refresh_interval: float = 300.0,
        events_interval: float = 5.0,
        kubernetes: KubernetesInfo | None = None,
        container: ContainerInfo | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.refresh_interval = refresh_interval
        self.events_interval = events_interval
        self.kubernetes = kubernetes or KubernetesInfo()
        self.container = container or ContainerInfo()
        self._clock = clock
        self._wall_clock = wall_clock
        self._metadata: InstanceMetadata | None = None
        self._events: InstanceEvents = NO_EVENTS
        self._fetched_at: float | None = None  # monotonic
        self._fetched_at_wall: float | None = None
        # What is failing ("metadata", "events") -> (why, since when); kept apart so
        # that events answering again does not hide a failing metadata refresh.
        self._failures: dict[str, tuple[str, float]] = {}
        self._last_attempt: float | None = None
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self.fetch_count = 0  # static fetches made, for tests
        # Told of every fetch: (source, kind, outcome); the app's metrics listen.
        self.observe: Callable[[str, str, str], None] = lambda source, kind, outcome: None

    # -- reading ----------------------------------------------------------------

    async def get(self) -> Snapshot:
        if self._metadata is None:
            await self._warm_up()
        return self.snapshot()

    def snapshot(self) -> Snapshot:
        """The current values, without waiting on anything."""
        now = self._clock()
        age = None if self._fetched_at is None else now - self._fetched_at
        return Snapshot(
            source=self.source.name,
            metadata=self._metadata,
            events=self._events,
            kubernetes=self.kubernetes,
            container=self.container,
            fetched_at=self._fetched_at_wall,
            error=self._describe_error(now, age),
            age_seconds=age,
            notice=self._metadata.notice if self._metadata else None,
        )

    def _describe_error(self, now: float, age: float | None) -> str | None:
        if not self._failures:
            return None
        reasons = "; ".join(dict.fromkeys(why for why, _ in self._failures.values()))
        if age is None:
            return f"metadata unavailable: {reasons}"
        since = min(started for _, started in self._failures.values())
        return (
            f"metadata service failing for {now - since:.0f}s; "
            f"showing values fetched {age:.0f}s ago: {reasons}"
        )

    # -- fetching -------------------------------------------------------------

    async def _warm_up(self) -> None:
        async with self._lock:  # one fetch for a burst of cold requests
            if self._metadata is not None:
                return
            now = self._clock()
            if self._last_attempt is not None and now - self._last_attempt < COLD_RETRY_INTERVAL:
                return
            await self.refresh()

    async def refresh(self) -> bool:
        """Fetch the static metadata, then the events; True when the metadata came."""
        self._last_attempt = self._clock()
        self.fetch_count += 1
        try:
            metadata = await self.source.fetch()
        except MetadataError as error:
            self.observe(self.source.name, "metadata", "error")
            self._record_failure("metadata", str(error))
            return False
        self.observe(self.source.name, "metadata", "ok")
        self._metadata = metadata
        self._fetched_at, self._fetched_at_wall = self._clock(), self._wall_clock()
        self._record_success("metadata")
        await self.refresh_events()
        return True

    async def refresh_events(self) -> bool:
        try:
            self._events = await self.source.fetch_events()
        except MetadataError as error:
            self.observe(self.source.name, "events", "error")
            self._record_failure("events", str(error))
            return False
        self.observe(self.source.name, "events", "ok")
        self._record_success("events")
        return True

    def _record_failure(self, what: str, message: str) -> None:
        if what not in self._failures:
            log.warning("metadata source %s: %s failed: %s", self.source.name, what, message)
            self._failures[what] = (message, self._clock())
        else:
            self._failures[what] = (message, self._failures[what][1])

    def _record_success(self, what: str) -> None:
        if self._failures.pop(what, None) is not None:
            log.info("metadata source %s: %s answers again", self.source.name, what)

    # -- background -------------------------------------------------------------

    def start(self) -> None:
        """Start the background refresh loops (call from a running event loop)."""
        self._tasks = [
            asyncio.create_task(self._refresh_loop(), name="metadata-refresh"),
            asyncio.create_task(self._events_loop(), name="metadata-events"),
        ]

    async def _refresh_loop(self) -> None:
        # The first pass fetches at once; cold requests wait on the same lock.
        backoff = 1.0
        while True:
            if await self._refresh_guarded():
                backoff = 1.0
                await asyncio.sleep(self.refresh_interval)
            else:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_RETRY_BACKOFF)

    async def _refresh_guarded(self) -> bool:
        async with self._lock:
            return await self.refresh()

    async def _events_loop(self) -> None:
        while True:
            await asyncio.sleep(self.events_interval)
            if self._metadata is not None:
                await self.refresh_events()

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.source.aclose()
