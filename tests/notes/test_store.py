"""The note store on MariaDB, PostgreSQL and SQLite: same tests, real servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from awsme.notes.database import create_engine, database_url
from awsme.notes.migrate import head_revision, migrate
from awsme.notes.schema import NOTE_COLUMN_LENGTH
from awsme.notes.store import REPLAYED, STORED, NoteStore
from awsme.settings import Settings
from tests.databases import ThrowawayDatabase

# Text that breaks naive code: every one must come back byte for byte.
TRICKY = [
    "hello 🚀 emoji 👩🏽‍💻 (ZWJ sequence)",
    "日本語のメモ · 中文 · 한국어",
    "עברית ومعها العربية (right to left)",
    "e\u0301 combining accent, ﬁ ligature, \u200b zero width",
    "<script>alert(1)</script><img src=x onerror=alert(2)>",
    "quotes ' \" ` and backslashes \\ \\\\ \\n (not a newline)",
    "'; DROP TABLE notes; -- %s %(x)s ? :name $1",
    "line one\nline two\ttabbed\r\n",
    "\U0001d54f" * 10,  # outside the BMP: 4 bytes in UTF-8
    "x" * NOTE_COLUMN_LENGTH,
]


@pytest.fixture
async def store(database: ThrowawayDatabase) -> AsyncIterator[NoteStore]:
    url = database_url(Settings(db_url=database.url))
    assert await migrate(url) == head_revision()
    engine = create_engine(url)
    try:
        yield NoteStore(engine)
    finally:
        await engine.dispose()


async def test_text_round_trips_byte_for_byte(store: NoteStore) -> None:
    added = [await store.add(text) for text in TRICKY]
    assert [note.text for note in added] == TRICKY
    assert [n.text for n in await store.recent(100)] == TRICKY
    page, _ = await store.page(len(TRICKY))
    assert [note.text for note in reversed(page)] == TRICKY


async def test_recent_notes_are_the_newest_oldest_first(store: NoteStore) -> None:
    for number in range(7):
        await store.add(f"note {number}")
    assert [n.text for n in await store.recent(3)] == ["note 4", "note 5", "note 6"]
    assert [n.text for n in await store.recent(0)] == []


async def test_keyset_pages_cover_everything_once(store: NoteStore) -> None:
    ids = [(await store.add(f"n{number}")).id for number in range(25)]
    seen: list[int] = []
    cursor = None
    while True:
        page, cursor = await store.page(10, cursor)
        seen += [note.id for note in page]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    last_page, last_cursor = await store.page(5, sorted(ids)[5])
    assert [note.id for note in last_page] == sorted(ids)[:5][::-1] and last_cursor is None


async def test_soft_delete(store: NoteStore) -> None:
    keep = await store.add("keep")
    gone = await store.add("gone")
    assert await store.delete(gone.id) is True
    assert await store.delete(gone.id) is False  # already deleted: unknown
    assert await store.delete(999_999) is False
    assert [n.text for n in await store.recent(10)] == ["keep"]
    page, _ = await store.page(10)
    assert [note.id for note in page] == [keep.id]
    assert await store.count_live() == 1


async def test_created_at_is_utc_now(store: NoteStore) -> None:
    from datetime import UTC, datetime, timedelta

    note = await store.add("timed")
    page, _ = await store.page(1)
    assert page[0].created_at == note.created_at
    assert note.created_at is not None
    stored = note.created_at.replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - stored) < timedelta(seconds=5)
    assert page[0].as_json()["created_at"] == stored.isoformat()


async def test_migrating_twice_is_a_no_op(database: ThrowawayDatabase) -> None:
    url = database_url(Settings(db_url=database.url))
    assert await migrate(url) == await migrate(url) == head_revision()


async def test_concurrent_adds_with_one_key_store_one_note(store: NoteStore) -> None:
    results = await asyncio.gather(*(store.add_once("raced", "key-1") for _ in range(20)))
    assert sorted(outcome for _, outcome in results) == [REPLAYED] * 19 + [STORED]
    assert len({note.id for note, _ in results}) == 1
    assert [n.text for n in await store.recent(10)] == ["raced"]
    # Without a key, every add stores a note (NULL keys never clash).
    await asyncio.gather(*(store.add_once("free", None) for _ in range(3)))
    assert await store.count_live() == 4
