"""`-run-migrations`: create the database if missing, then upgrade it to head.

Safe to run twice, or from several replicas at the same moment: the upgrade
runs under a lock that the database itself holds (a named lock in MySQL, an
advisory lock in PostgreSQL, a file lock next to a SQLite file).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
from collections.abc import AsyncIterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Connection, text

from awsme.notes.async_engine import AsyncConnection
from awsme.notes.database import create_database_if_missing, create_engine
from awsme.notes.schema import is_newer_than_this_release

MIGRATIONS = Path(__file__).parent / "migrations"
LOCK_NAME = "awsme_migrations"
LOCK_TIMEOUT_SECONDS = 120
POSTGRES_LOCK_KEY = 0x617773_6D65  # "awsme"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def migrate(url: URL) -> str | None:
    """Bring the database at `url` to the newest schema; returns the revision."""
    await create_database_if_missing(url)
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection, _migration_lock(connection, url):
            revision = await connection.run_sync(current_revision)
            if is_newer_than_this_release(revision):
                return revision  # a newer release's schema: nothing to do, nothing to undo
            await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), "head"))
            await connection.commit()
            return await connection.run_sync(current_revision)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def _migration_lock(connection: AsyncConnection, url: URL) -> AsyncIterator[None]:
    backend = url.get_backend_name()
    if backend == "mysql":
        got = await connection.scalar(
            text("SELECT GET_LOCK(:name, :timeout)"),
            {"name": LOCK_NAME, "timeout": LOCK_TIMEOUT_SECONDS},
        )
        if got != 1:
            raise TimeoutError("another replica has held the migration lock for too long")
        try:
            yield
        finally:
            await connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": LOCK_NAME})
    elif backend == "postgresql":
        await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": POSTGRES_LOCK_KEY})
        await connection.commit()
        try:
            yield
        finally:
            await connection.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": POSTGRES_LOCK_KEY}
            )
            await connection.commit()
    else:
        async with _file_lock(Path(f"{url.database}.migrate-lock")):
            yield


@contextlib.asynccontextmanager
async def _file_lock(path: Path) -> AsyncIterator[None]:
    with path.open("a") as handle:
        await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
