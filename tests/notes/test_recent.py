"""Reads of the newest notes shared by concurrent requests, on the real servers:
a request shares only a read that had not started when it arrived, so a note
acknowledged before it arrived is always in its answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from awsme.backend.app import create_backend_app
from awsme.notes.database import create_engine, create_reader, database_url
from awsme.notes.migrate import migrate
from awsme.notes.recent import RecentNotes
from awsme.notes.store import SCHEMA, Note, NoteStore, NotesUnavailable
from awsme.settings import Settings
from tests.databases import ThrowawayDatabase
from tests.loopback import serve, wait_ready
from tests.tcp_proxy import TcpProxy


class HeldStore(NoteStore):
    """The real store, counting its reads of the newest notes; with `hold` set,
    a read that has run its query waits before it returns its rows (a read that
    is slow to come back, as under load)."""

    def __init__(self, engine: AsyncEngine, reader: AsyncEngine, timeout: float = 3.0) -> None:
        super().__init__(engine, reader=reader, timeout=timeout)
        self.queries = 0
        self.queried = asyncio.Event()  # a query has run
        self.hold: asyncio.Event | None = None

    async def recent(self, limit: int) -> list[Note]:
        notes = await super().recent(limit)
        self.queries += 1
        self.queried.set()
        if self.hold is not None:
            await self.hold.wait()
        return notes


async def held_store(url: URL, *, db_timeout: float = 3.0) -> AsyncIterator[HeldStore]:
    engine, reader = create_engine(url), create_reader(url)
    try:
        yield HeldStore(engine, reader, db_timeout)
    finally:
        await engine.dispose()
        await reader.dispose()


@pytest.fixture
async def store(database: ThrowawayDatabase) -> AsyncIterator[HeldStore]:
    url = database_url(Settings(db_url=database.url))
    await migrate(url)
    async for store in held_store(url):
        yield store


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[HeldStore]:
    url = database_url(Settings(db_url=f"sqlite:///{tmp_path}/notes.db"))
    await migrate(url)
    async for store in held_store(url, db_timeout=0.5):
        yield store


def texts(notes: list[Note]) -> list[str]:
    return [note.text for note in notes]


async def test_a_request_never_gets_a_read_that_started_before_it(store: HeldStore) -> None:
    recent = RecentNotes(store, 0)
    store.hold = asyncio.Event()
    first = asyncio.create_task(recent.get(10))
    await store.queried.wait()  # the first request's read has run its query...
    await store.add("acknowledged")  # ...before this note was committed
    later = [asyncio.create_task(recent.get(10)) for _ in range(5)]
    await asyncio.sleep(0.05)  # the later requests wait: none joined the running read
    assert not any(task.done() for task in later)
    store.hold.set()
    assert texts(await first) == []
    for task in later:
        assert texts(await task) == ["acknowledged"]
    assert store.queries == 2  # the five later requests shared one read


async def test_requests_that_arrive_together_share_a_read(sqlite_store: HeldStore) -> None:
    await sqlite_store.add("one")
    recent = RecentNotes(sqlite_store, 0)
    answers = await asyncio.gather(*(recent.get(10) for _ in range(50)))
    assert all(texts(answer) == ["one"] for answer in answers)
    # The read starts after the requests that were ready with the first: they share it.
    assert sqlite_store.queries == recent.reads == 1
    assert texts(await recent.get(10)) == ["one"]  # nothing under way: a read of its own
    assert sqlite_store.queries == 2


async def test_a_request_that_gives_up_leaves_the_read_to_the_others(
    sqlite_store: HeldStore,
) -> None:
    await sqlite_store.add("kept")
    recent = RecentNotes(sqlite_store, 0)
    sqlite_store.hold = asyncio.Event()
    first = asyncio.create_task(recent.get(10))  # its read runs on its own task
    await sqlite_store.queried.wait()
    leaving, staying = (asyncio.create_task(recent.get(10)) for _ in range(2))
    await asyncio.sleep(0.01)  # both joined the second read
    first.cancel()
    leaving.cancel()
    sqlite_store.hold.set()
    assert texts(await staying) == ["kept"]
    assert first.cancelled() and leaving.cancelled()
    assert sqlite_store.queries == 2  # both reads ran to their end


async def test_a_request_waits_no_longer_than_the_timeout(sqlite_store: HeldStore) -> None:
    recent = RecentNotes(sqlite_store, 0)
    sqlite_store.hold = asyncio.Event()  # the read never comes back
    with pytest.raises(NotesUnavailable, match="did not answer in time"):
        await recent.get(10)
    sqlite_store.hold.set()
    await asyncio.sleep(0.05)  # the read ends before the store closes


async def test_a_failed_read_fails_its_requests_and_the_next_one_reads_again(
    tmp_path: Path,
) -> None:
    url = database_url(Settings(db_url=f"sqlite:///{tmp_path}/notes.db"))
    async for store in held_store(url):
        recent = RecentNotes(store, 0)
        failed = await asyncio.gather(*(recent.get(10) for _ in range(3)), return_exceptions=True)
        assert all(isinstance(error, NotesUnavailable) for error in failed)
        assert {error.kind for error in failed if isinstance(error, NotesUnavailable)} == {SCHEMA}
        await migrate(url)  # the schema is there now: the next request reads it
        await store.add("after")
        assert texts(await recent.get(10)) == ["after"]


async def test_the_cache_keeps_no_read_that_started_before_a_write(
    sqlite_store: HeldStore,
) -> None:
    """With -notes-cache, a note written through this process drops the cache,
    even while a read that started before the write is under way."""
    recent = RecentNotes(sqlite_store, 60)
    sqlite_store.hold = asyncio.Event()
    first = asyncio.create_task(recent.get(10))
    await sqlite_store.queried.wait()
    await sqlite_store.add("written")
    sqlite_store.hold.set()
    assert texts(await first) == []
    assert texts(await recent.get(10)) == ["written"]
    assert texts(await recent.get(10)) == ["written"]  # cached now
    assert sqlite_store.queries == 2


async def test_under_concurrent_load_every_get_sent_after_an_add_has_its_note(
    mariadb: ThrowawayDatabase,
) -> None:
    """Over HTTP, two replicas: while 24 clients read GET / from b without a
    pause, notes are added through a, and each add, once answered, is looked for
    in b at once; every GET sent after an add was answered has that note, and b
    shared its reads. b's database answers 100 ms late: b has a read under way
    whenever an add is answered, started before it."""
    await migrate(database_url(Settings(db_url=mariadb.url)))
    proxy = TcpProxy(mariadb.port, delay=0.1).start()
    a_app, b_app = (
        create_backend_app(Settings(mode="backend", db_url=url, metadata="simulated"), {})
        for url in (mariadb.url, mariadb.url_via(proxy.port))
    )
    try:
        with serve(a_app) as a, serve(b_app) as b:
            wait_ready(a.url)
            wait_ready(b.url)
            acknowledged: list[str] = []
            writing = True
            gets = 0
            reading = asyncio.Event()  # every reader has had an answer

            async def get_b(client: httpx.AsyncClient, expected: list[str]) -> None:
                nonlocal gets
                notes = (await client.get(b.url + "/")).json()["Notes"]
                gets += 1
                if gets == 24:
                    reading.set()
                missing = [text for text in expected if text not in notes]
                assert not missing, f"acknowledged before the GET, not in it: {missing}"

            async def read(client: httpx.AsyncClient, pause: float) -> None:
                while writing:
                    await get_b(client, list(acknowledged))  # answered before it is sent
                    await asyncio.sleep(pause)  # the readers drift apart

            async def write(client: httpx.AsyncClient) -> None:
                nonlocal writing
                await reading.wait()
                for number in range(10):
                    response = await client.post(a.url + "/add-note", json={"Note": f"n{number}"})
                    assert response.status_code == 200
                    acknowledged.append(f"n{number}")
                    await get_b(client, list(acknowledged))
                writing = False

            limits = httpx.Limits(max_connections=30)
            async with httpx.AsyncClient(limits=limits, timeout=10) as client:
                await asyncio.gather(write(client), *(read(client, n / 1000) for n in range(24)))
            reads = b_app.state.backend.notes.recent.reads
    finally:
        proxy.stop()
    assert acknowledged == [f"n{number}" for number in range(10)]
    assert reads < gets / 2  # shared
