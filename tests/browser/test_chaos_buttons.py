"""The card's chaos buttons (issue 14) in headless Chromium: shown when the backend
runs with -chaos, each click flips the backend's switch without a reload (the chart
keeps its counts), the button shows it on, and the running CPU and memory exercises
show on the card. Screenshots at the projector's and a phone's size. Burns last a
second or two: the machine is shared. Every server is on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from awsme.backend.app import create_backend_app
from awsme.frontend.app import create_frontend_app
from awsme.settings import Settings
from tests.browser.helpers import mark_page, open_card, same_page, save_screenshot, wait
from tests.browser.test_card_projector import set_size
from tests.loopback import serve, wait_ready


@pytest.fixture
def chaotic(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(frontend URL, backend URL): a backend with -chaos, its frontend without."""
    backend_settings = Settings(
        mode="backend", metadata="simulated", chaos=True, db_url=f"sqlite:///{tmp_path}/n.db"
    )
    with serve(create_backend_app(backend_settings, {})) as backend:
        wait_ready(backend.url)
        frontend_settings = Settings(mode="frontend", backend_service=backend.url)
        with serve(create_frontend_app(frontend_settings)) as frontend:
            yield frontend.url, backend.url
        httpx.delete(backend.url + "/chaos")


def button(driver: WebDriver, switch: str) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, f'#chaos button[data-switch="{switch}"]')


def pressed(driver: WebDriver, switch: str) -> bool:
    state: str = driver.execute_script(
        "const b = document.querySelector(`#chaos button[data-switch='${arguments[0]}']`);"
        "return b ? b.getAttribute('aria-pressed') : null;",
        switch,
    )
    return state == "true"


def asked_once(driver: WebDriver) -> bool:
    """Redraw the card from a new answer (the memory is touched a chunk at a time)."""
    driver.find_element(By.ID, "refresh-now").click()
    return True


def notices(driver: WebDriver) -> str:
    text: str = driver.execute_script("return document.getElementById('alerts').textContent;")
    return text


def test_buttons_flip_the_backends_switches_in_place(
    driver: WebDriver, chaotic: tuple[str, str]
) -> None:
    frontend, backend = chaotic
    open_card(driver, frontend + "/")
    labels = [b.text for b in driver.find_elements(By.CSS_SELECTOR, "#chaos button")]
    assert (
        labels[:6]
        == [
            "Fail /readyz\nOFF",
            "Fail /livez\nOFF",
            "Slow: 500 ms\nOFF",
            "Fail 20%\nOFF",
            "Burn CPU 60 s\nOFF",
            "Hold 64 MB\nOFF",
        ]
        and labels[-1] == "All off"
    )
    mark_page(driver)

    button(driver, "readyz").click()
    wait(driver, lambda d: pressed(d, "readyz"))
    assert httpx.get(backend + "/readyz").status_code == 503
    button(driver, "readyz").click()
    wait(driver, lambda d: not pressed(d, "readyz"))
    assert httpx.get(backend + "/readyz").status_code == 200

    button(driver, "latency").click()
    wait(driver, lambda d: pressed(d, "latency"))
    assert httpx.get(backend + "/chaos").json()["latency_ms"] == 500
    button(driver, "errors").click()
    wait(
        driver, lambda d: pressed(d, "errors") or "503" in d.find_element(By.ID, "page-status").text
    )
    button(driver, "all").click()
    wait(driver, lambda d: not pressed(d, "latency") and not pressed(d, "errors"))
    state = httpx.get(backend + "/chaos").json()
    assert (state["latency_ms"], state["error_percent"]) == (0, 0)
    assert same_page(driver)  # sent in place: no reload, the chart kept its counts


def test_cpu_and_memory_show_while_they_run(driver: WebDriver, chaotic: tuple[str, str]) -> None:
    frontend, backend = chaotic
    for width, height in ((1280, 720), (390, 844)):
        set_size(driver, width, height)
        open_card(driver, frontend + "/")
        save_screenshot(driver, f"chaos-buttons-{width}x{height}.png")
    set_size(driver, 1280, 720)
    open_card(driver, frontend + "/")
    button(driver, "memory-64").click()
    wait(driver, lambda d: pressed(d, "memory-64"))
    wait(driver, lambda d: asked_once(d) and "holding 64 of 64 MB" in notices(d))
    # A short burn, started like the README's curl line, so it ends by itself.
    httpx.post(backend + "/chaos/cpu?percent=50&seconds=3")
    driver.find_element(By.ID, "refresh-now").click()
    wait(driver, lambda d: pressed(d, "cpu") and "burning 50% of a core" in notices(d))
    for width, height in ((1280, 720), (390, 844)):
        set_size(driver, width, height)
        driver.find_element(By.ID, "refresh-now").click()
        wait(driver, lambda d: pressed(d, "cpu"))
        save_screenshot(driver, f"chaos-running-{width}x{height}.png")
    button(driver, "cpu").click()
    wait(driver, lambda d: not pressed(d, "cpu"))
    button(driver, "memory-64").click()
    wait(driver, lambda d: not pressed(d, "memory-64") and "holding" not in notices(d))
    assert httpx.get(backend + "/chaos").json()["memory"]["mb"] == 0


def test_no_buttons_when_the_backend_has_no_chaos(driver: WebDriver, tmp_path: Path) -> None:
    settings = Settings(mode="backend", metadata="simulated", db_url=f"sqlite:///{tmp_path}/n.db")
    with serve(create_backend_app(settings, {})) as backend:
        wait_ready(backend.url)
        with serve(
            create_frontend_app(Settings(mode="frontend", backend_service=backend.url))
        ) as f:
            open_card(driver, f.url + "/")
            assert driver.find_elements(By.CSS_SELECTOR, "#chaos button") == []
