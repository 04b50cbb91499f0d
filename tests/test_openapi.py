"""The OpenAPI documents tell the truth: schemathesis, with all its checks, against
each role served on loopback, on MariaDB and on SQLite, finds nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from awsme.backend.app import create_backend_app
from awsme.frontend.app import create_frontend_app
from awsme.settings import Settings
from tests.databases import ThrowawayDatabase
from tests.loopback import serve
from tests.notes.test_outages import eventually

SCHEMATHESIS = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
EXAMPLES = 40  # per operation and phase: about 15 s a run on this machine
TEXT_ROUTES = ("/healthz", "/livez", "/readyz", "/version", "/metrics")


@pytest.fixture(params=["sqlite", "mariadb"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ThrowawayDatabase]:
    database = ThrowawayDatabase(request.param, tmp_path)
    database.check_server()
    yield database
    database.drop()


@pytest.fixture
def backend(db: ThrowawayDatabase) -> Iterator[str]:
    settings = Settings(
        mode="backend", db_url=db.url, run_migrations=True, metadata="simulated", access_log=False
    )
    with serve(create_backend_app(settings, {})) as server:
        eventually(lambda: httpx.get(server.url + "/healthz").status_code == 200)
        yield server.url


def run_schemathesis(url: str) -> subprocess.CompletedProcess[str]:
    assert SCHEMATHESIS, "schemathesis is missing: pip install -e '.[dev]'"
    return subprocess.run(
        [
            SCHEMATHESIS,
            "run",
            url + "/openapi.json",
            "--checks=all",
            f"--max-examples={EXAMPLES}",
            "--workers=1",
            "--request-timeout=10",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )


def documented(url: str) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(url + "/openapi.json").json()
    return document


@pytest.mark.timeout(300)
def test_schemathesis_finds_nothing_on_the_backend(backend: str) -> None:
    result = run_schemathesis(backend)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout


@pytest.mark.timeout(300)
def test_schemathesis_finds_nothing_on_the_frontend(backend: str) -> None:
    settings = Settings(mode="frontend", backend_service=backend, access_log=False)
    with serve(create_frontend_app(settings)) as frontend:
        result = run_schemathesis(frontend.url)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout


def test_what_the_documents_promise(tmp_path: Path) -> None:
    backend = create_backend_app(
        Settings(mode="backend", metadata="simulated", db_url=f"sqlite:///{tmp_path}/n.db"), {}
    ).openapi()
    frontend = create_frontend_app(Settings(mode="frontend", path_prefix="/awsme")).openapi()
    for document in (backend, frontend):
        text = str(document)
        assert "422" not in text and "HTTPValidationError" not in text
        for path, operations in document["paths"].items():
            if path.endswith(TEXT_ROUTES):
                for operation in operations.values():
                    for answer in operation["responses"].values():
                        assert list(answer["content"]) == ["text/plain"], path
    listing = backend["paths"]["/api/v1/notes"]["get"]["parameters"]
    assert {p["name"]: p["schema"]["type"] for p in listing} == {
        "limit": "integer",
        "cursor": "integer",
    }
    for method in ("get", "post"):
        add = backend["paths"]["/add-note"][method]
        schema = add["requestBody"]["content"]["application/json"]["schema"]
        assert schema["required"] == ["Note"]
        assert [p["name"] for p in add["parameters"]] == ["Idempotency-Key"]
    assert backend["components"]["schemas"]["NoteText"]["maxLength"] == 1000
    # The frontend's own document: its JSON and text routes, under its prefix, no pages.
    assert "/awsme/api/card" in frontend["paths"] and "/awsme/add-note" in frontend["paths"]
    assert "/awsme/" not in frontend["paths"] and "/awsme/theme.css" not in frontend["paths"]
