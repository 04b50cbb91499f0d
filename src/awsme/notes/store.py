"""Reading and writing notes: the only code that queries the notes table."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, insert, inspect, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from awsme.notes.async_engine import AsyncConnection, AsyncEngine
from awsme.notes.schema import notes

UNAVAILABLE, CONFIGURATION, SCHEMA = "unavailable", "configuration", "schema"


class NotesUnavailable(Exception):
    """The database cannot answer; the message says why, without secrets.

    `kind` says what to do about it: wait (unavailable), fix a flag
    (configuration) or run the migrations (schema)."""

    def __init__(self, message: str, kind: str = UNAVAILABLE) -> None:
        super().__init__(message)
        self.kind = kind


# What add_once did with an idempotency key.
STORED, REPLAYED, DELETED = "stored", "replayed", "deleted"


class _KeyTaken(Exception):
    """Another write stored the same idempotency key first."""


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


# What the servers answer when the schema is not there (or not all there).
MYSQL_SCHEMA_ERRORS = frozenset({1049, 1146, 1054})  # unknown database, table, column
MYSQL_LOGIN_ERRORS = frozenset({1044, 1045, 1698})  # access denied
POSTGRES_SCHEMA_STATES = frozenset({"3D000", "42P01", "42703"})
POSTGRES_LOGIN_STATES = frozenset({"28000", "28P01"})


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return chain


def classify_error(error: BaseException, *, from_url: bool = False) -> NotesUnavailable:
    """What went wrong, in words that say what to do; `from_url` when the
    connection came from -db-url rather than the -db-* flags."""
    if isinstance(error, TimeoutError):
        return NotesUnavailable("the database is unavailable: it did not answer in time")
    chain = _causes(error)
    orig = getattr(error, "orig", None) or error
    # Loaded only with a MySQL engine; with none, the error is not PyMySQL's.
    mysql_errors = sys.modules.get("pymysql.err")
    if mysql_errors and isinstance(orig, mysql_errors.MySQLError) and len(orig.args) == 2:
        code: object = orig.args[0]
        reason = f"MySQL error {code}: {orig.args[1]}"  # PyMySQL: (code, message)
    elif isinstance(orig, OSError) and orig.strerror:
        code, reason = None, orig.strerror
    else:
        code, reason = None, (str(orig) or type(orig).__name__).splitlines()[0]
    states = {getattr(cause, "sqlstate", None) for cause in chain}
    text = reason.lower()
    if (
        code in MYSQL_SCHEMA_ERRORS
        or states & POSTGRES_SCHEMA_STATES
        or text.startswith(("no such table", "no such column"))
    ):
        return NotesUnavailable(f"schema missing: run -run-migrations ({reason})", SCHEMA)
    if code in MYSQL_LOGIN_ERRORS or states & POSTGRES_LOGIN_STATES:
        check = "the user and password in -db-url" if from_url else "-db-user and -db-password"
        return NotesUnavailable(
            f"configuration error: the database refused the login ({reason}): check {check}",
            CONFIGURATION,
        )
    unresolved = next((c for c in chain if isinstance(c, socket.gaierror)), None)
    if unresolved is not None:
        check = "the host in -db-url" if from_url else "-db-host"
        return NotesUnavailable(
            "configuration error: the database host name does not resolve "
            f"({unresolved.strerror or unresolved}): check {check}",
            CONFIGURATION,
        )
    return NotesUnavailable(f"the database is unavailable: {reason}")


def describe_error(error: BaseException) -> str:
    return str(classify_error(error))


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
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        reader: AsyncEngine | None = None,
        timeout: float = 3.0,
        from_url: bool = True,
    ) -> None:
        self.engine = engine
        self.reader = engine if reader is None else reader  # database.create_reader
        self._recent: dict[int, Select[Any]] = {}  # built once per limit, compiled once
        self.timeout = timeout
        self.from_url = from_url  # which flags a configuration error names
        self.on_error: Callable[[], None] = lambda: None  # the app's metrics count failures
        # Told after each use of the database: None when it answered, else why not.
        self.on_outcome: Callable[[NotesUnavailable | None], None] = lambda problem: None
        self.on_change: list[Callable[[], None]] = []  # told after each committed write

    @asynccontextmanager
    async def _connection(
        self, *, write: bool = False, report: bool = True, read_only: bool = False
    ) -> AsyncIterator[AsyncConnection]:
        """A connection that gives up after `timeout` and turns every database
        failure into NotesUnavailable; a write commits before the block returns."""
        try:
            async with asyncio.timeout(self.timeout):
                engine = self.reader if read_only else self.engine
                context = engine.begin() if write else engine.connect()
                async with context as connection:
                    yield connection
        except IntegrityError:
            if report:
                self.on_outcome(None)  # the database answered: the key was taken
            raise _KeyTaken() from None
        except (SQLAlchemyError, OSError, TimeoutError) as error:
            self.on_error()
            problem = classify_error(error, from_url=self.from_url)
            if report:
                self.on_outcome(problem)
            raise problem from None
        if report:
            self.on_outcome(None)

    async def schema_revision(self) -> str | None:
        """The revision Alembic recorded, or None for a database it never migrated.
        Reports no outcome: the caller decides whether that revision is usable."""
        async with self._connection(report=False) as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
            if "alembic_version" not in tables:
                return None
            revision = await connection.scalar(text("SELECT version_num FROM alembic_version"))
        return str(revision) if revision is not None else None

    async def ping(self) -> None:
        """Reads the table itself: a database that answers without the schema
        (dropped, or never migrated) is not one the notes can use."""
        async with self._connection() as connection:
            await connection.execute(select(notes.c.id, notes.c.idempotency_key).limit(1))

    async def add(self, text: str) -> Note:
        note, _ = await self.add_once(text, None)
        return note

    async def add_once(self, text: str, key: str | None) -> tuple[Note, str]:
        """Store a note, once per idempotency key. Returns the note and STORED (now),
        REPLAYED (a repeat, concurrent or not: the note the key first stored) or
        DELETED (the key's note has been deleted since: nothing stored again, so
        that a late retry never brings a deleted note back)."""
        if key is not None and (first := await self.by_key(key)) is not None:
            return first
        now = _utc_now()
        try:
            async with self._connection(write=True) as connection:
                result = await connection.execute(
                    insert(notes).values(
                        note=text, created_at=now, updated_at=now, idempotency_key=key
                    )
                )
                new_id = result.inserted_primary_key
        except _KeyTaken:
            # A concurrent repeat won the unique index between our look and our insert.
            if key is None or (first := await self.by_key(key)) is None:
                raise NotesUnavailable("the database refused the note") from None
            return first
        if not new_id or new_id[0] is None:
            raise NotesUnavailable("the database did not return the new note's id")
        # The transaction has committed here: only now is the note acknowledged.
        self._changed()
        return Note(id=int(new_id[0]), text=text, created_at=now), STORED

    async def by_key(self, key: str) -> tuple[Note, str] | None:
        """The note an idempotency key stored, and REPLAYED or DELETED."""
        query = select(notes.c.id, notes.c.note, notes.c.created_at, notes.c.deleted_at).where(
            notes.c.idempotency_key == key
        )
        async with self._connection() as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            return None
        note = Note(id=row.id, text=row.note or "", created_at=row.created_at)
        return note, DELETED if row.deleted_at is not None else REPLAYED

    async def recent(self, limit: int) -> list[Note]:
        """The newest `limit` live notes, oldest first (the Go app's `Notes` order)."""
        query = self._recent.get(limit)
        if query is None:
            query = newest_live(notes.c.id, notes.c.note, notes.c.created_at).limit(limit)
            self._recent[limit] = query
        async with self._connection(read_only=True) as connection:
            try:
                result = await connection.execute(query)
            except DBAPIError as error:
                if not error.connection_invalidated:
                    raise
                # It died in the pool (the database restarted): once more, on a new one.
                await connection.rollback()
                result = await connection.execute(query)
            rows = result.all()
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
