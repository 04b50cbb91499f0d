"""SQLAlchemy's async engine without its ORM (awsme.notes.async_engine): each
thing it relies on in SQLAlchemy, checked in a fresh interpreter, so that a
release that changes one fails here. The backend's imports: tests/test_role_imports.py."""

from __future__ import annotations

import json
import subprocess
import sys

from awsme.notes.database import database_url
from awsme.notes.migrate import migrate
from awsme.settings import Settings
from tests.databases import ThrowawayDatabase


def run(code: str, *args: str) -> dict[str, object]:
    """Run `code` in a fresh interpreter; it prints one JSON object."""
    output = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    ).stdout
    result: dict[str, object] = json.loads(output.splitlines()[-1])
    return result


def test_the_engine_comes_without_the_orm_and_the_package_is_whole_when_asked() -> None:
    result = run(
        """
import json, sys
import awsme.notes.async_engine as ours
loaded = {
    "orm": "sqlalchemy.orm" in sys.modules,
    "session": "sqlalchemy.ext.asyncio.session" in sys.modules,
}
# The names the package's __init__ gives, asked of the package: it runs its __init__.
from sqlalchemy.ext.asyncio import (
    AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
)
import sqlalchemy.ext.asyncio as package
import sqlalchemy.ext.asyncio.engine as engine
print(json.dumps({
    **loaded,
    "same": AsyncEngine is ours.AsyncEngine is engine.AsyncEngine
        and create_async_engine is ours.create_async_engine
        and ours.AsyncConnection is engine.AsyncConnection,
    "orm_after": "sqlalchemy.orm" in sys.modules,
    "session_class": AsyncSession.__module__,
    "public": sorted(n for n in vars(package) if not n.startswith("_")),
    "hook_left": "__getattr__" in vars(package),
}))
"""
    )
    assert result["orm"] is False and result["session"] is False
    assert result["same"] is True
    assert (
        result["orm_after"] is True and result["session_class"] == "sqlalchemy.ext.asyncio.session"
    )
    assert result["hook_left"] is False
    # What the package holds then is what it holds when imported as usual.
    usual = run(
        """
import json
import sqlalchemy.ext.asyncio as package
print(json.dumps({"public": sorted(n for n in vars(package) if not n.startswith("_"))}))
"""
    )
    assert result["public"] == usual["public"]


def test_the_package_imported_first_is_left_as_it_is() -> None:
    result = run(
        """
import json, sys
import sqlalchemy.ext.asyncio as package
import awsme.notes.async_engine as ours
print(json.dumps({
    "same": ours.AsyncEngine is package.AsyncEngine, "hook": "__getattr__" in vars(package)
}))
"""
    )
    assert result == {"same": True, "hook": False}


async def test_the_notes_are_read_and_written_without_loading_the_orm(
    database: ThrowawayDatabase,
) -> None:
    """Every query the backend makes, on each database, in a process that has
    only what the backend imports: the ORM is never loaded on the way."""
    await migrate(database_url(Settings(db_url=database.url)))
    result = run(
        """
import asyncio, json, sys
from awsme.notes.database import create_engine, create_reader, database_url
from awsme.notes.recent import RecentNotes
from awsme.notes.store import NoteStore
from awsme.settings import Settings

async def main():
    url = database_url(Settings(db_url=sys.argv[1]))
    engine, reader = create_engine(url), create_reader(url)
    store = NoteStore(engine, reader=reader)
    try:
        await store.ping()
        note, _ = await store.add_once("without the ORM", "key-1")
        replayed = await store.add_once("without the ORM", "key-1")
        texts = [n.text for n in await RecentNotes(store, 0).get(10)]
        page, _ = await store.page(10)
        deleted = await store.delete(note.id)
        revision = await store.schema_revision()
    finally:
        await engine.dispose()
        await reader.dispose()
    print(json.dumps({
        "texts": texts, "page": [n.text for n in page], "replayed": replayed[1],
        "deleted": deleted, "revision": revision, "orm": "sqlalchemy.orm" in sys.modules,
    }))

asyncio.run(main())
""",
        database.url,
    )
    assert result == {
        "texts": ["without the ORM"],
        "page": ["without the ORM"],
        "replayed": "replayed",
        "deleted": True,
        "revision": "0002",
        "orm": False,
    }
