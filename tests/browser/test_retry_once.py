"""An add the frontend could not confirm (its backend answered too late) is sent again
by the page with the same Idempotency-Key, so that the backend stores it once; the
form without the script offers the same retry. Another note gets another key."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx
from selenium.webdriver.chrome.webdriver import WebDriver
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from awsme.frontend.app import create_frontend_app
from awsme.settings import Settings
from tests.browser.helpers import note_message, open_card, type_note, wait
from tests.loopback import serve

GO_SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "go-samples"


class SlowFirstAdd:
    """A Go-like backend whose next add answers after `delay` seconds (then at once);
    it records the Idempotency-Key of every add it receives."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.keys: list[str | None] = []
        self.document = json.loads((GO_SAMPLES / "backend-root.json").read_text())

    def app(self) -> Starlette:
        async def root(request: Request) -> Response:
            return JSONResponse(self.document)

        async def add(request: Request) -> Response:
            self.keys.append(request.headers.get("idempotency-key"))
            delay, self.delay = self.delay, 0.0
            await asyncio.sleep(delay)
            return PlainTextResponse("Ok\n")

        return Starlette(
            routes=[Route("/", root), Route("/add-note", add, methods=["GET", "POST"])]
        )


def test_the_page_retries_with_the_same_key(driver: WebDriver) -> None:
    backend = SlowFirstAdd()
    with serve(backend.app()) as server:
        settings = Settings(
            mode="frontend", backend_service=server.url, backend_timeout=0.5, refresh_interval=60
        )
        with serve(create_frontend_app(settings)) as frontend:
            open_card(driver, frontend.url + "/")
            backend.delay = 2.0
            type_note(driver, "sent twice, stored once")
            wait(driver, lambda d: "retrying is safe" in note_message(d))
            driver.find_element("id", "add-note").click()
            wait(driver, lambda d: note_message(d) == "Note added.")
            type_note(driver, "another note")
            wait(driver, lambda d: len(backend.keys) == 3)
            # Leave the page before its servers stop: its refresh after the add
            # would otherwise meet a closed port and log an error.
            driver.get("about:blank")
    first, retried, other = backend.keys
    assert first and first == retried, backend.keys
    assert other and other != first


def test_the_form_without_script_offers_the_same_retry() -> None:
    backend = SlowFirstAdd()
    with serve(backend.app()) as server:
        settings = Settings(mode="frontend", backend_service=server.url, backend_timeout=0.5)
        with serve(create_frontend_app(settings)) as frontend:
            page = httpx.get(frontend.url + "/").text
            (key,) = re.findall(r'name="idempotency_key" value="(\w+)"', page)
            assert (
                key
                != re.findall(
                    r'name="idempotency_key" value="(\w+)"', httpx.get(frontend.url + "/").text
                )[0]
            ), "a key per drawn form"
            backend.delay = 2.0
            form: dict[str, Any] = {"note": "by form <b>", "idempotency_key": key}
            answer = httpx.post(frontend.url + "/add-note", data=form, timeout=10)
            assert answer.status_code == 503 and "retrying is safe" in answer.text
            assert f'name="idempotency_key" value="{key}"' in answer.text
            assert 'name="note" value="by form &lt;b&gt;"' in answer.text
            again = httpx.post(frontend.url + "/add-note", data=form, timeout=10)
            assert again.status_code == 303
    assert backend.keys == [key, key]
