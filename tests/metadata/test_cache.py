"""The metadata cache: one fetch for a cold burst, stale values when the service dies."""

from __future__ import annotations

import asyncio
from typing import Any

from awsme.metadata.cache import MetadataCache
from awsme.metadata.ec2 import Ec2Source
from tests.loopback import LoopbackServer


def instance_id_requests(simulator: Any) -> int:
    return sum(1 for path in simulator.paths() if path.endswith("/meta-data/instance-id"))


async def test_burst_of_cold_requests_makes_one_fetch(simulator: Any) -> None:
    cache = MetadataCache(Ec2Source(simulator.url))
    try:
        snapshots = await asyncio.gather(*(cache.get() for _ in range(50)))
    finally:
        await cache.aclose()
    assert {s.metadata.instance_id for s in snapshots if s.metadata} == {"i-0123456789abcdef0"}
    assert all(s.error is None for s in snapshots)
    assert instance_id_requests(simulator) == 1
    assert cache.fetch_count == 1


async def test_warm_requests_never_reach_the_service(simulator: Any) -> None:
    cache = MetadataCache(Ec2Source(simulator.url))
    try:
        await cache.get()
        before = simulator.state.request_count
        for _ in range(100):
            await cache.get()
    finally:
        await cache.aclose()
    assert simulator.state.request_count == before


async def test_dead_service_keeps_last_values_and_says_how_stale(simulator_factory: Any) -> None:
    simulator = simulator_factory()
    cache = MetadataCache(Ec2Source(simulator.url, timeout=0.5), events_interval=0.1)
    try:
        cache.start()
        first = await cache.get()
        assert first.metadata and first.error is None
        simulator.server.stop()
        for _ in range(100):
            await asyncio.sleep(0.05)
            snapshot = cache.snapshot()
            if snapshot.error:
                break
        assert snapshot.metadata == first.metadata  # the last good values are kept
        assert snapshot.error and "showing values fetched" in snapshot.error
        assert "unreachable" in snapshot.error
    finally:
        await cache.aclose()


class Switchable:
    """An ASGI wrapper whose upstream can be turned into a 503 answer and back."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.down = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.down and scope["type"] == "http":
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)


async def test_recovers_by_itself_when_the_service_returns(simulator: Any) -> None:
    switch = Switchable(simulator.app)
    server = LoopbackServer(switch).start()
    cache = MetadataCache(Ec2Source(server.url), events_interval=0.1)
    try:
        cache.start()
        await cache.get()
        switch.down = True
        await _wait_for(lambda: cache.snapshot().error is not None)
        switch.down = False
        await _wait_for(lambda: cache.snapshot().error is None)
        assert cache.snapshot().metadata is not None
    finally:
        await cache.aclose()
        server.stop()


async def test_cold_failure_is_reported_and_not_retried_per_request() -> None:
    server = LoopbackServer(Switchable(None)).start()
    url = server.url
    server.stop()  # nothing listens there any more
    cache = MetadataCache(Ec2Source(url, timeout=0.5))
    try:
        first = await cache.get()
        second = await cache.get()
    finally:
        await cache.aclose()
    assert first.metadata is None and first.error and "unavailable" in first.error
    assert second.error == first.error
    assert cache.fetch_count == 1


async def _wait_for(condition: Any, within: float = 5.0) -> None:
    for _ in range(int(within / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


class FailingEvents:
    """The simulator, except that spot/ answers 500."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and "/spot/" in scope["path"]:
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)


async def test_failing_events_keep_the_metadata(simulator: Any) -> None:
    server = LoopbackServer(FailingEvents(simulator.app)).start()
    cache = MetadataCache(Ec2Source(server.url))
    try:
        snapshot = await cache.get()
    finally:
        await cache.aclose()
        server.stop()
    assert snapshot.metadata and snapshot.metadata.instance_id == "i-0123456789abcdef0"
    assert snapshot.error and "500" in snapshot.error
