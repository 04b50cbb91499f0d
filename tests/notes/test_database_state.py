"""The database's state, told once and correctly: one WARNING when it is lost, one
INFO when it is back (with how long it was gone), a missing schema and a wrong
login or host named as what they are, on the real servers."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from awsme.backend.app import create_backend_app
from awsme.notes.database import database_url
from awsme.notes.migrate import migrate
from awsme.settings import Settings
from tests.databases import ThrowawayDatabase, mariadb_admin, postgres_admin_run
from tests.loopback import serve
from tests.notes.test_outages import eventually
from tests.processes import APP, free_port
from tests.tcp_proxy import TcpProxy

SERVICE_LOG = "awsme.notes.service"


def state_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == SERVICE_LOG]


@pytest.fixture
async def migrated(server_database: ThrowawayDatabase) -> ThrowawayDatabase:
    await migrate(database_url(Settings(db_url=server_database.url)))
    return server_database


@pytest.fixture
def proxy(migrated: ThrowawayDatabase) -> Iterator[TcpProxy]:
    proxy = TcpProxy(migrated.port).start()
    yield proxy
    proxy.stop()


def test_an_outage_is_told_once_and_its_end_with_its_length(
    migrated: ThrowawayDatabase, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=SERVICE_LOG)
    settings = Settings(
        mode="backend", db_url=migrated.url_via(proxy.port), db_timeout=2.0, metadata="simulated"
    )
    with serve(create_backend_app(settings, {})) as server:
        url = server.url
        eventually(lambda: httpx.get(url + "/healthz").status_code == 200)
        assert [level for level, _ in state_lines(caplog)] == ["INFO"]  # ready, once
        proxy.cut()
        for _ in range(10):  # every request fails: none of them logs on its own
            assert "notes unavailable" in httpx.get(url + "/", timeout=10).json()["Error"]
            assert httpx.post(url + "/add-note", json={"Note": "x"}, timeout=10).status_code == 503
            assert httpx.get(url + "/healthz", timeout=10).status_code == 503
        proxy.restore()
        eventually(lambda: httpx.post(url + "/add-note", json={"Note": "back"}).is_success)
        for _ in range(5):
            assert httpx.get(url + "/").json()["Error"] == ""
    lines = state_lines(caplog)
    assert [level for level, _ in lines] == ["INFO", "WARNING", "INFO"], lines
    assert lines[1][1].startswith("notes database lost: the database is unavailable: ")
    back = re.fullmatch(r"notes database back after (\d+\.\d)s: .*", lines[2][1])
    assert back and float(back.group(1)) > 0.0


def drop_schema(db: ThrowawayDatabase) -> None:
    if db.kind == "mariadb":
        with mariadb_admin() as admin, admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE `{db.name}`")
    elif db.kind == "postgresql":
        postgres_admin_run(f'DROP DATABASE "{db.name}" WITH (FORCE)')
    else:
        import sqlite3

        with sqlite3.connect(db.url.removeprefix("sqlite:///")) as connection:
            connection.execute("DROP TABLE notes")


def test_a_schema_dropped_under_the_backend_makes_healthz_503(
    database: ThrowawayDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=SERVICE_LOG)
    settings = Settings(
        mode="backend", db_url=database.url, run_migrations=True, metadata="simulated"
    )
    with serve(create_backend_app(settings, {})) as server:
        url = server.url
        eventually(lambda: httpx.get(url + "/healthz").status_code == 200)
        drop_schema(database)
        health = httpx.get(url + "/healthz")
        assert health.status_code == 503
        assert health.text.startswith("database: schema missing: run -run-migrations (")
        assert "schema missing: run -run-migrations" in httpx.get(url + "/").json()["Error"]
        added = httpx.post(url + "/add-note", json={"Note": "x"})
        assert added.status_code == 503 and "schema missing" in added.text
    warnings = [m for level, m in state_lines(caplog) if level == "WARNING"]
    assert len(warnings) == 1 and "schema missing: run -run-migrations" in warnings[0]


def test_a_database_never_migrated_says_to_run_the_migrations(
    migrated: ThrowawayDatabase,
) -> None:
    if migrated.kind == "mariadb":
        with mariadb_admin() as admin, admin.cursor() as cursor:
            cursor.execute(f"DROP TABLE `{migrated.name}`.alembic_version")
    else:
        postgres_admin_run(f'DROP DATABASE "{migrated.name}" WITH (FORCE)')
    settings = Settings(mode="backend", db_url=migrated.url, metadata="simulated")
    with serve(create_backend_app(settings, {})) as server:
        eventually(lambda: "schema missing" in httpx.get(server.url + "/healthz").text)
        health = httpx.get(server.url + "/healthz")
        assert health.status_code == 503
        assert health.text.startswith("database: schema missing: run -run-migrations")


def test_a_wrong_login_is_a_configuration_error(migrated: ThrowawayDatabase) -> None:
    if migrated.kind == "mariadb":
        url = f"mysql://awsme_nobody:wrong@127.0.0.1:3306/{migrated.name}"
        flags = Settings(
            mode="backend",
            metadata="simulated",
            db_host="127.0.0.1",
            db_user="awsme_nobody",
            db_password="wrong",
            db_name=migrated.name,
            given=frozenset({"db_host", "db_user", "db_password", "db_name"}),
        )
        cases = [(flags, "-db-user and -db-password")]
    else:
        url = f"postgresql://awsme_nobody@127.0.0.1:5432/{migrated.name}"
        cases = []  # the -db-* flags are MySQL's
    cases.append((Settings(mode="backend", db_url=url, metadata="simulated"), "-db-url"))
    for settings, check in cases:
        with serve(create_backend_app(settings, {})) as server:
            eventually(lambda: "configuration" in httpx.get(server.url + "/healthz").text)
            health = httpx.get(server.url + "/healthz")
        assert health.status_code == 503
        assert health.text.startswith(
            "database: configuration error: the database refused the login"
        )
        assert check in health.text.rstrip().rsplit("check ", 1)[1]
        assert "unavailable" not in health.text and "wrong" not in health.text


@pytest.mark.skipif(
    not (shutil.which("unshare") and shutil.which("ip") and os.geteuid() == 0),
    reason="needs root, unshare and ip to run the backend in a network namespace",
)
def test_an_unknown_host_is_a_configuration_error(tmp_path: Path) -> None:
    """In a network namespace of its own, with only loopback: the name lookup of
    -db-host fails on the spot, and no packet can leave the machine."""
    port = free_port()
    script = f"""
        ip link set lo up
        {APP} -mode=backend -host=127.0.0.1 -port={port} -metadata=simulated \\
            -db-host=db -db-password=x 2>{tmp_path}/log &
        backend=$!
        for _ in $(seq 100); do
            out=$({APP} -mode=check -url=http://127.0.0.1:{port}/healthz 2>&1)
            case "$out" in *"configuration error"*) break;; esac
            sleep 0.1
        done
        echo "$out"
        kill $backend; wait $backend
    """
    result = subprocess.run(
        ["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, timeout=60
    )
    assert (
        "database: configuration error: the database host name does not resolve" in result.stdout
    ), result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("check -db-host.")
    log = (tmp_path / "log").read_text()
    assert log.count("notes database not usable") == 1, log
