"""Throwaway databases on the real servers of this machine: MariaDB, PostgreSQL, SQLite.

Each test gets a database of its own, created here and dropped afterwards. When
a server is not running, its tests skip locally and fail in CI (CI is set).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pymysql
import pytest

MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
KINDS = ("sqlite", "mariadb", "postgresql")


def unavailable(kind: str, error: Exception) -> None:
    message = f"{kind} is not reachable on 127.0.0.1: {error}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must run every database test; see .ci/run)")
    pytest.skip(message)


def mariadb_admin(database: str | None = None) -> pymysql.connections.Connection:
    return pymysql.connect(**MARIADB, database=database, charset="utf8mb4", autocommit=True)


def postgres_admin_run(statement: str) -> int:
    """Run one statement as the superuser; returns how many rows it gave."""

    async def run() -> int:
        connection = await asyncpg.connect(**POSTGRES, database="postgres")
        try:
            return len(await connection.fetch(statement))
        finally:
            await connection.close()

    return asyncio.run(run())


class ThrowawayDatabase:
    """One database of `kind`; `url` is what a user would pass to -db-url."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.name = "awsme_t_" + secrets.token_hex(5)
        if kind == "sqlite":
            self.url = f"sqlite:///{tmp_path / (self.name + '.db')}"
        elif kind == "mariadb":
            self.url = f"mysql://root@127.0.0.1:3306/{self.name}"
        else:
            self.url = f"postgresql://postgres@127.0.0.1:5432/{self.name}"

    def check_server(self) -> None:
        try:
            if self.kind == "mariadb":
                mariadb_admin().close()
            elif self.kind == "postgresql":
                postgres_admin_run("SELECT 1")
        except Exception as error:
            unavailable(self.kind, error)

    @property
    def port(self) -> int:
        return 3306 if self.kind == "mariadb" else 5432

    def url_via(self, port: int) -> str:
        """The same database, reached through another port (a proxy)."""
        return self.url.replace(f":{self.port}/", f":{port}/")

    def kill_connections(self) -> int:
        """Close every connection to this database from the server side."""
        if self.kind == "mariadb":
            with mariadb_admin() as connection, connection.cursor() as cursor:
                cursor.execute(
                    "SELECT id FROM information_schema.processlist WHERE db = %s", (self.name,)
                )
                ids = [row[0] for row in cursor.fetchall()]
                for thread_id in ids:
                    cursor.execute(f"KILL {int(thread_id)}")
                return len(ids)
        return postgres_admin_run(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{self.name}' AND pid <> pg_backend_pid()"
        )

    def drop(self) -> None:
        if self.kind == "mariadb":
            with mariadb_admin() as connection, connection.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{self.name}`")
        elif self.kind == "postgresql":
            postgres_admin_run(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@pytest.fixture(params=KINDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ThrowawayDatabase]:
    """A database name on each server (not created: migrations create it)."""
    db = ThrowawayDatabase(request.param, tmp_path)
    db.check_server()
    yield db
    db.drop()


@pytest.fixture(params=("mariadb", "postgresql"))
def server_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ThrowawayDatabase]:
    """A database on each server that can go down (not SQLite)."""
    db = ThrowawayDatabase(request.param, tmp_path)
    db.check_server()
    yield db
    db.drop()


@pytest.fixture
def mariadb(tmp_path: Path) -> Iterator[ThrowawayDatabase]:
    db = ThrowawayDatabase("mariadb", tmp_path)
    db.check_server()
    yield db
    db.drop()
