"""Which database the settings designate, and that its password never shows."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from awsme.cli import parse_settings
from awsme.notes.database import create_engine, database_url, describe
from awsme.notes.store import NoteStore
from awsme.settings import SettingError
from tests.databases import ThrowawayDatabase
from tests.processes import APP, free_port, wait_until_ready


def url_for(argv: list[str], environ: dict[str, str] | None = None) -> str:
    settings, _ = parse_settings(argv, environ or {})
    return database_url(settings).render_as_string(hide_password=False)


def test_nothing_given_is_the_embedded_sqlite_file() -> None:
    assert url_for([]) == "sqlite+aiosqlite:///awsme-notes.db"


def test_any_db_flag_means_mysql_with_the_go_apps_defaults() -> None:
    assert url_for(["-db-host=db"]) == (
        "mysql+aiomysql://root:root@db:3306/sample_app?charset=utf8mb4"
    )
    assert url_for(["-db-password=s"]).startswith("mysql+aiomysql://root:s@db:3306/")


def test_db_variables_mean_mysql_too() -> None:
    assert url_for([], {"AWSME_DB_NAME": "notes"}).endswith("@db:3306/notes?charset=utf8mb4")


def test_db_url_wins_and_gets_its_async_driver() -> None:
    assert url_for(["-db-host=db", "-db-url=postgresql://u:p@pg/n"]) == (
        "postgresql+asyncpg://u:p@pg/n"
    )
    assert url_for(["-db-url=postgres://u@pg/n"]) == "postgresql+asyncpg://u@pg/n"
    assert url_for(["-db-url=sqlite:////data/notes.db"]) == "sqlite+aiosqlite:////data/notes.db"
    assert url_for(["-db-url=mysql://u:p@h/n"]) == "mysql+aiomysql://u:p@h/n?charset=utf8mb4"


@pytest.mark.parametrize(
    ("raw", "message"),
    [("oracle://x/y", "unsupported database"), ("not a url", "not a database URL")],
)
def test_bad_db_url(raw: str, message: str) -> None:
    with pytest.raises(SettingError, match=message):
        url_for([f"-db-url={raw}"])


def test_localhost_means_tcp_as_the_go_app_did() -> None:
    # A Unix socket would not reach a database in another container.
    assert "@127.0.0.1:3306/" in url_for(["-db-host=localhost"])
    assert "@127.0.0.1:3306/" in url_for(["-db-url=mysql://root@localhost:3306/x"])


def test_password_file_is_a_mounted_secret(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-a-secret\n")
    url = url_for([f"-db-password-file={secret}", "-db-password=ignored"])
    assert url.startswith("mysql+aiomysql://root:from-a-secret@db:3306/")


def test_describe_hides_the_password() -> None:
    settings, _ = parse_settings(["-db-password=hunter2"], {})
    assert "hunter2" not in describe(database_url(settings))


async def test_localhost_reaches_mariadb_over_tcp(mariadb: ThrowawayDatabase) -> None:
    settings, _ = parse_settings(
        ["-db-host=localhost", "-db-password=", f"-db-name={mariadb.name}"], {}
    )
    from awsme.notes.migrate import migrate

    url = database_url(settings)
    await migrate(url)
    engine = create_engine(url)
    try:
        assert await NoteStore(engine).count_live() == 0
    finally:
        await engine.dispose()


def test_the_password_never_shows(tmp_path: Path) -> None:
    secret = "Sup3r-S3cret-pw"
    port = free_port()
    process = subprocess.Popen(
        [APP, "-mode=backend", "-metadata=simulated", "-host=127.0.0.1", f"-port={port}",
         "-db-host=127.0.0.1", "-db-port=1", f"-db-password={secret}", "-log-level=debug"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "AWSME_DB_USER": "root"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url + "/livez", process)  # type: ignore[arg-type]
        time.sleep(1.5)  # a few connection attempts fail and get logged
        answers = [httpx.get(url + path).text for path in ("/", "/healthz", "/readyz", "/metrics")]
        httpx.post(url + "/add-note", json={"Note": "x"})
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    assert "database" in answers[1]  # the failure is reported...
    for text in [*answers, output]:
        assert secret not in text  # ...without the password
    assert "<redacted>" in output  # the debug settings line hides it
