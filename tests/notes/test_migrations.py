"""`app -run-migrations` on the real servers: the Go app's table adopted with every
note kept, twice in a row, and from three processes at the same moment."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from awsme.notes.database import create_database_if_missing, create_engine, database_url
from awsme.notes.migrate import alembic_config, head_revision
from awsme.notes.store import REPLAYED, STORED, NoteStore
from awsme.settings import Settings
from tests.databases import ThrowawayDatabase, mariadb_admin
from tests.processes import APP

# gorm v1's DDL for the Go app's Note model (see go-samples/gorm-notes-table.txt);
# the charset is what the server defaulted to where the Go app ran.
GORM_DDL = """
CREATE TABLE `notes` (
  `id` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `created_at` timestamp NULL DEFAULT NULL,
  `updated_at` timestamp NULL DEFAULT NULL,
  `deleted_at` timestamp NULL DEFAULT NULL,
  `note` varchar(255) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_notes_deleted_at` (`deleted_at`)
) ENGINE=InnoDB DEFAULT CHARSET={charset}
"""
GO_ROWS = [
    # id, created_at, deleted_at, note
    (1, "2026-01-05 09:30:00", None, "first note from the Go app"),
    (2, "2026-01-05 09:31:00", "2026-01-06 10:00:00", "deleted in the Go app"),
    (3, "2026-01-05 09:32:00", None, "café crème, naïve — «latin1 fits»"),
    (7, "2026-01-05 09:33:00", None, "x" * 255),
]


def run_app(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([APP, *args], capture_output=True, text=True, timeout=60)


def mysql_flags(db: ThrowawayDatabase) -> list[str]:
    # The workshop's flags, pointed at this machine's MariaDB.
    return ["-db-host=127.0.0.1", "-db-port=3306", "-db-password=", f"-db-name={db.name}"]


def create_go_database(db: ThrowawayDatabase, charset: str) -> None:
    with mariadb_admin() as admin, admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{db.name}` CHARACTER SET {charset}")
    # The Go app connected with charset=utf8 (3-byte), so write as it did.
    with mariadb_admin(db.name) as connection, connection.cursor() as cursor:
        cursor.execute("SET NAMES utf8")
        cursor.execute(GORM_DDL.format(charset=charset))
        for note_id, created, deleted, text in GO_ROWS:
            cursor.execute(
                "INSERT INTO notes (id, created_at, updated_at, deleted_at, note) "
                "VALUES (%s, %s, %s, %s, %s)",
                (note_id, created, created, deleted, text),
            )


def table_rows(db: ThrowawayDatabase) -> list[tuple[object, ...]]:
    with mariadb_admin(db.name) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT id, created_at, deleted_at, note FROM notes ORDER BY id")
        return list(cursor.fetchall())


@pytest.mark.parametrize("charset", ["utf8", "latin1", "utf8mb4"])
async def test_go_database_is_adopted_with_every_note(
    mariadb: ThrowawayDatabase, charset: str
) -> None:
    create_go_database(mariadb, charset)
    for _ in range(2):
        result = run_app("-run-migrations", *mysql_flags(mariadb))
        assert result.returncode == 0, result.stderr
        assert f"revision {head_revision()}" in result.stdout
    rows = table_rows(mariadb)
    assert [row[0] for row in rows] == [1, 2, 3, 7]
    for row, (note_id, created, deleted, text) in zip(rows, GO_ROWS, strict=True):
        assert row[3] == text, note_id
        assert row[1] == datetime.fromisoformat(created)
        assert row[2] == (datetime.fromisoformat(deleted) if deleted else None)
    with mariadb_admin(mariadb.name) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT CHARACTER_SET_NAME, CHARACTER_MAXIMUM_LENGTH FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'notes' AND column_name = 'note'",
            (mariadb.name,),
        )
        assert cursor.fetchone() == ("utf8mb4", 4000)
    # Emoji fit now, new ids follow the Go app's, and deleted rows stay deleted.
    engine = create_engine(database_url(Settings(db_url=mariadb.url)))
    try:
        store = NoteStore(engine)
        added = await store.add("now with emoji 🚀")
        assert added.id == 8
        assert [n.text for n in await store.recent(10)] == [
            "first note from the Go app",
            "café crème, naïve — «latin1 fits»",
            "x" * 255,
            "now with emoji 🚀",
        ]
    finally:
        await engine.dispose()


async def test_migrations_create_a_missing_database(database: ThrowawayDatabase) -> None:
    result = run_app("-run-migrations", f"-db-url={database.url}")
    assert result.returncode == 0, result.stderr
    assert f"revision {head_revision()}" in result.stdout
    engine = create_engine(database_url(Settings(db_url=database.url)))
    try:
        store = NoteStore(engine)
        assert await store.schema_revision() == head_revision()
        assert await store.count_live() == 0
    finally:
        await engine.dispose()


def test_three_replicas_migrating_at_once(database: ThrowawayDatabase) -> None:
    processes = [
        subprocess.Popen(
            [APP, "-run-migrations", f"-db-url={database.url}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [process.communicate(timeout=120) for process in processes]
    for process, (out, err) in zip(processes, results, strict=True):
        assert process.returncode == 0, err
        assert f"revision {head_revision()}" in out


def test_failed_migration_is_one_line() -> None:
    result = run_app("-run-migrations", "-db-host=127.0.0.1", "-db-port=1", "-db-password=s3cr3t")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "migration of mysql" in result.stderr and "s3cr3t" not in result.stderr


def test_unreadable_password_file_is_refused(tmp_path: Path) -> None:
    result = run_app("-run-migrations", f"-db-password-file={tmp_path / 'missing'}")
    assert result.returncode == 2
    assert "cannot read -db-password-file" in result.stderr


def test_the_revisions_the_backend_knows_are_alembics() -> None:
    from alembic.script import ScriptDirectory

    from awsme.notes.schema import HEAD_REVISION, REVISIONS

    assert head_revision() == HEAD_REVISION
    history = ScriptDirectory.from_config(alembic_config()).walk_revisions()
    assert tuple(reversed([script.revision for script in history])) == REVISIONS


async def test_a_newer_release_s_database_is_used_and_left_alone(
    database: ThrowawayDatabase,
) -> None:
    """After a rollback: the database is at a revision a newer release made (only ever
    additions). This release's -run-migrations leaves it, and its backend uses it."""
    url = database_url(Settings(db_url=database.url))
    from awsme.notes.migrate import migrate
    from awsme.notes.service import NotesService

    assert await migrate(url) == head_revision()
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    finally:
        await engine.dispose()
    assert await migrate(url) == "0099", "nothing to do, and no error"
    result = run_app("-run-migrations", f"-db-url={database.url}")
    assert result.returncode == 0, result.stderr
    service = NotesService(url, run_migrations=False, timeout=5)
    try:
        service.start()
        for _ in range(100):
            if service.ready:
                break
            await asyncio.sleep(0.05)
        assert service.ready, service.problem
        added = await service.usable_store().add("after a rollback")
        assert [n.text for n in await service.newest(10)] == [added.text]
    finally:
        await service.aclose()


def key_index(db: ThrowawayDatabase) -> list[tuple[str, bool]]:
    """(column, unique) of the idempotency key's index, read from the server itself."""

    async def read() -> list[tuple[str, bool]]:
        engine = create_engine(database_url(Settings(db_url=db.url)))
        try:
            async with engine.connect() as connection:
                indexes = await connection.run_sync(
                    lambda sync: sa.inspect(sync).get_indexes("notes")
                )
        finally:
            await engine.dispose()
        return [
            (index["column_names"][0], bool(index["unique"]))
            for index in indexes
            if index["name"] == "uq_notes_idempotency_key"
        ]

    return asyncio.run(read())


async def _upgrade_to(url: str, revision: str) -> None:
    engine = create_engine(database_url(Settings(db_url=url)))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))
            await connection.commit()
    finally:
        await engine.dispose()


def test_the_idempotency_key_adopts_tables_of_earlier_revisions(
    database: ThrowawayDatabase,
) -> None:
    """A database left at 0001 (notes in it, one with a key column already added by
    hand, as an interrupted run would leave it) gets the column and its unique index."""
    asyncio.run(create_database_if_missing(database_url(Settings(db_url=database.url))))
    asyncio.run(_upgrade_to(database.url, "0001"))
    rows = ["before 0002, one", "before 0002, two"]

    async def fill() -> None:
        engine = create_engine(database_url(Settings(db_url=database.url)))
        try:
            async with engine.begin() as connection:
                for text in rows:
                    await connection.execute(
                        sa.text("INSERT INTO notes (note, created_at) VALUES (:t, NULL)"),
                        {"t": text},
                    )
                await connection.execute(
                    sa.text("ALTER TABLE notes ADD COLUMN idempotency_key VARCHAR(128)")
                )
        finally:
            await engine.dispose()

    asyncio.run(fill())
    assert key_index(database) == []
    for _ in range(2):
        result = run_app("-run-migrations", f"-db-url={database.url}")
        assert result.returncode == 0, result.stderr
        assert f"revision {head_revision()}" in result.stdout
    assert key_index(database) == [("idempotency_key", True)]

    async def check() -> None:
        engine = create_engine(database_url(Settings(db_url=database.url)))
        try:
            store = NoteStore(engine)
            assert [n.text for n in await store.recent(10)] == rows
            first, stored = await store.add_once("with a key", "k-1")
            again, stored_again = await store.add_once("with a key", "k-1")
            assert (stored, stored_again, again.id) == (STORED, REPLAYED, first.id)
            _, other_case = await store.add_once("with a key", "K-1")  # keys are exact
            assert other_case == STORED
        finally:
            await engine.dispose()

    asyncio.run(check())


def test_the_go_table_gets_the_unique_key_index(mariadb: ThrowawayDatabase) -> None:
    create_go_database(mariadb, "latin1")
    result = run_app("-run-migrations", *mysql_flags(mariadb))
    assert result.returncode == 0, result.stderr
    assert key_index(mariadb) == [("idempotency_key", True)]
    assert [row[0] for row in table_rows(mariadb)] == [1, 2, 3, 7]


STARTS_AND_REPORTS_ALEMBIC = """
import asyncio, sys
from awsme.notes.database import database_url
from awsme.notes.service import NotesService
from awsme.settings import Settings

async def main() -> None:
    url = database_url(Settings(db_url=sys.argv[1]))
    service = NotesService(url, run_migrations=True, timeout=5)
    service.start()
    while not service.ready:
        await asyncio.sleep(0.05)
    print(await service.store.schema_revision(), "alembic" in sys.modules)
    await service.aclose()

asyncio.run(main())
"""


def test_a_database_already_migrated_starts_without_loading_alembic(tmp_path: Path) -> None:
    """The embedded SQLite migrates at every start (make run): Alembic loads only when
    the database is behind."""
    url = f"sqlite:///{tmp_path}/notes.db"

    def start() -> list[str]:
        run = [sys.executable, "-c", STARTS_AND_REPORTS_ALEMBIC, url]
        return subprocess.run(run, capture_output=True, text=True, check=True).stdout.split()

    assert start() == [head_revision(), "True"]  # a new file: migrated
    assert start() == [head_revision(), "False"]  # at the head already: nothing to load
