"""POST /chaos-switch: the card's buttons reach the backend's /chaos routes through
the frontend, with the same-origin check of every write; without JavaScript a
redirect back to the card, with it JSON."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from awsme.backend.app import create_backend_app
from awsme.frontend.app import create_frontend_app
from awsme.settings import Settings
from tests.loopback import serve, wait_ready
from tests.ops.test_chaos import backend_settings

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[str, str]]:
    with serve(create_backend_app(backend_settings(tmp_path, chaos=True), {})) as backend:
        wait_ready(backend.url)
        with serve(
            create_frontend_app(Settings(mode="frontend", backend_service=backend.url))
        ) as f:
            yield f.url, backend.url
        httpx.delete(backend.url + "/chaos")


def test_a_form_flips_the_backend_switch_and_comes_back(pair: tuple[str, str]) -> None:
    frontend, backend = pair
    answer = httpx.post(frontend + "/chaos-switch", content="switch=readyz&on=1", headers=FORM)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    assert httpx.get(backend + "/readyz").status_code == 503
    httpx.post(frontend + "/chaos-switch", content="switch=readyz&on=0", headers=FORM)
    assert httpx.get(backend + "/readyz").status_code == 200


def test_the_script_gets_the_backend_state(pair: tuple[str, str]) -> None:
    frontend, backend = pair
    answer = httpx.post(
        frontend + "/chaos-switch",
        content="switch=memory&on=1&mb=8",
        headers={**FORM, "Accept": "application/json", "Sec-Fetch-Site": "same-origin"},
    )
    assert answer.status_code == 200 and answer.json()["memory"]["mb"] == 8
    httpx.post(frontend + "/chaos-switch", content="switch=all&on=0", headers=FORM)
    assert httpx.get(backend + "/chaos").json()["memory"]["mb"] == 0


def test_cross_site_is_refused_and_nothing_changes(pair: tuple[str, str]) -> None:
    frontend, backend = pair
    answer = httpx.post(
        frontend + "/chaos-switch",
        content="switch=livez&on=1",
        headers={**FORM, "Sec-Fetch-Site": "cross-site"},
    )
    assert answer.status_code == 403
    assert httpx.get(backend + "/livez").status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("switch=nope&on=1", 400),
        ("switch=memory&on=1&mb=-3", 400),
        ("switch=memory&on=1&mb=" + "9" * 50, 400),
        ("switch=memory&on=1&mb=9999999", 400),  # more than any machine here: the backend says
        ("x" * 2000, 413),
    ],
)
def test_bad_forms_say_why(pair: tuple[str, str], body: str, status: int) -> None:
    frontend, _ = pair
    answer = httpx.post(
        frontend + "/chaos-switch", content=body, headers={**FORM, "Accept": "application/json"}
    )
    assert answer.status_code == status and answer.json()["error"]


def test_a_backend_without_chaos_is_said(tmp_path: Path) -> None:
    with (
        serve(create_backend_app(backend_settings(tmp_path), {})) as backend,
        serve(create_frontend_app(Settings(mode="frontend", backend_service=backend.url))) as f,
    ):
        answer = httpx.post(f.url + "/chaos-switch", content="switch=cpu&on=1", headers=FORM)
        assert answer.status_code == 409 and "-chaos" in answer.text
