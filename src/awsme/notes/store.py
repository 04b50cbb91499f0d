"""Reading and writing notes: the only code that queries the notes table."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pymysql
from sqlalchemy import Select, func, insert, inspect, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from awsme.notes.schema import notes


class NotesUnavailable(Exception):
    """The database cannot answer; the message says why, without secrets."""


@dataclass(frozen=True, slots=True)
class Note:
    id: int
    text: str
    created_at: datetime | None  # naive, UTC

    def as_json(self) -> dict[str, object]:
        created = self.created_at.replace(tzinfo=UTC).isoformat() if self.created_at else None
        return {"id": self.id, "text": self.text, "created_at": created}


def _utc_now() -> datetime:
    # Stored naive in UTC, as gorm did; MySQL sessions are set to +00:00.
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def describe_error(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "the database did not answer in time"
    orig = getattr(error, "orig", None) or error
    if isinstance(orig, pymysql.err.MySQLError) and len(orig.args) == 2:
        reason = f"MySQL error {orig.args[0]}: {orig.args[1]}"  # PyMySQL: (code, message)
    elif isinstance(orig, OSError) and orig.strerror:
        reason = orig.strerror
    else:
        reason = (str(orig) or type(orig).__name__).splitlines()[0]
    return f"the database is unavailable: {reason}"


LIVE = notes.c.deleted_at.is_(None)


def newest_live(*columns: Any) -> Select[Any]:
    """Live notes, newest first.

    On MySQL/MariaDB the primary key is named: given the (deleted_at, id) index,
    MariaDB reads every live note above a cursor (175 ms at 200,000 rows instead
    of 0.5 ms). Walking the primary key backwards skips only deleted rows, which
    are rare. PostgreSQL and SQLite use the (deleted_at, id) index well.
    """
    return (
        select(*columns)
        .with_hint(notes, "USE INDEX (PRIMARY)", dialect_name="mysql")
        .where(LIVE)
        .order_by(notes.c.id.desc())
    )


class NoteStore:
    def __init__(self, engine: AsyncEngine, *, timeout: float = 3.0) -> None:
        self.engine = engine
        self.timeout = timeout
        self.on_error: Callable[[], None] = lambda: None  # the app's metrics count failures
        self.on_change: list[Callable[[], None]] = []  # told after each committed write

    @asynccontextmanager
    async def _connection(self, *, write: bool = False) -> AsyncIterator[AsyncConnection]:
        """A connection that gives up after `timeout` and turns every database
        failure into NotesUnavailable; a write commits before the block returns."""
        try:
            async with asyncio.timeout(self.timeout):
                context = self.engine.begin() if write else self.engine.connect()
                async with context as connection:
                    yield connection
        except (SQLAlchemyError, OSError, TimeoutError) as error:
            self.on_error()
            raise NotesUnavailable(describe_error(error)) from None

    async def schema_revision(self) -> str | None:
        """The revision Alembic recorded, or None for a database it never migrated."""
        async with self._connection() as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
            if "alembic_version" not in tables:
                return None
            revision = await connection.scalar(text("SELECT version_num FROM alembic_version"))
        return str(revision) if revision is not None else None

    async def ping(self) -> None:
        async with self._connection() as connection:
            await connection.scalar(select(1))

    async def add(self, text: str) -> Note:
        now = _utc_now()
        async with self._connection(write=True) as connection:
            result = await connection.execute(
                insert(notes).values(note=text, created_at=now, updated_at=now)
            )
            key = result.inserted_primary_key
        if not key or key[0] is None:
            raise NotesUnavailable("the database did not return the new note's id")
        # The transaction has committed here: only now is the note acknowledged.
        self._changed()
        return Note(id=int(key[0]), text=text, created_at=now)

    async def recent(self, limit: int) -> list[Note]:
        """The newest `limit` live notes, oldest first (the Go app's `Notes` order)."""
        query = newest_live(notes.c.id, notes.c.note, notes.c.created_at).limit(limit)
        async with self._connection() as connection:
            rows = (await connection.execute(query)).all()
        return [Note(id=row.id, text=row.note or "", created_at=row.created_at) for row in rows][
            ::-1
        ]

    async def page(self, limit: int, before: int | None = None) -> tuple[list[Note], int | None]:
        """Live notes newest first, `limit` of them, with ids below `before`.

        Keyset pagination: the index on (deleted_at, id) makes every page cost the
        same at any table size; one extra row says whether another page exists.
        """
        query = newest_live(notes.c.id, notes.c.note, notes.c.created_at)
        if before is not None:
            query = query.where(notes.c.id < before)
        query = query.limit(limit + 1)
        async with self._connection() as connection:
            rows = (await connection.execute(query)).all()
        page = [Note(id=row.id, text=row.note or "", created_at=row.created_at) for row in rows]
        next_cursor = page[limit - 1].id if len(page) > limit else None
        return page[:limit], next_cursor

    async def delete(self, note_id: int) -> bool:
        """Soft delete, as gorm did; False when no live note has that id."""
        now = _utc_now()
        statement = (
            update(notes).where(notes.c.id == note_id, LIVE).values(deleted_at=now, updated_at=now)
        )
        async with self._connection(write=True) as connection:
            result = await connection.execute(statement)
        self._changed()
        return result.rowcount == 1

    def _changed(self) -> None:
        for listener in self.on_change:
            listener()

    async def count_live(self) -> int:
        """For tests and tools, never on a request path (COUNT(*) scans)."""
        async with self._connection() as connection:
            return int(await connection.scalar(select(func.count()).where(LIVE)) or 0)
