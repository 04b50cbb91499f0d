"""Each role imports only what it uses: a worker's memory and its start are
mostly the modules it imports. Checked in a fresh interpreter, as the program
starts, since this test process has imported everything."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

BUILD = """
import json, sys
from awsme.cli import parse_settings
from awsme.server import build_app, uvicorn_config
settings, _ = parse_settings(sys.argv[1:], {})
config = uvicorn_config(build_app(settings, {}), settings)
config.load()
new_loop = config.get_loop_factory()
if new_loop:
    new_loop().close()
print(json.dumps(sorted(sys.modules)))
"""

TEMPLATES_AND_CLIENT = {"jinja2", "aiohttp"}
DRIVERS = {"aiomysql", "pymysql", "asyncpg", "aiosqlite"}
# (httpx also imports rich and pygments, for its command line, where they are
# installed: with the dev tools, not in the image.)
# uvloop: asyncio's own loop serves (awsme.server says why).
UNUSED = {"websockets", "alembic", "mako", "uvloop"}
# The notes use SQLAlchemy Core on its async engine, never its ORM (6 MB and
# 0.3 s a process): awsme.notes.async_engine keeps it out.
UNUSED_MODULES = {"sqlalchemy.orm", "sqlalchemy.ext.asyncio.session"}


def imported(*args: str) -> set[str]:
    """The top-level packages a role has imported once built."""
    return {name.split(".")[0] for name in imported_modules(*args)}


def imported_modules(*args: str) -> set[str]:
    output = subprocess.run(
        [sys.executable, "-c", BUILD, *args, "-metadata=simulated"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    ).stdout
    return set(json.loads(output))


@pytest.mark.parametrize(
    ("database", "driver"),
    [
        ("mysql://root@127.0.0.1:3306/sample_app", {"aiomysql", "pymysql"}),
        ("postgresql://postgres@127.0.0.1:5432/sample_app", {"asyncpg"}),
    ],
)
def test_the_backend_imports_its_driver_and_no_page_templates(
    database: str, driver: set[str]
) -> None:
    full = imported_modules("-mode=backend", f"-db-url={database}")
    modules = {name.split(".")[0] for name in full}
    assert driver <= modules
    assert modules & (TEMPLATES_AND_CLIENT | (DRIVERS - driver) | UNUSED) == set()
    assert "sqlalchemy.ext.asyncio.engine" in full
    assert full & UNUSED_MODULES == set()


def test_the_frontend_imports_no_database() -> None:
    modules = imported("-mode=frontend")
    assert {"jinja2", "aiohttp"} <= modules
    # httpx is the metadata sources' client; the frontend reads no metadata.
    assert modules & ({"sqlalchemy", "greenlet", "httpx"} | DRIVERS | UNUSED) == set()
