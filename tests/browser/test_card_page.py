"""The card page in a real headless Chromium (Debian's chromium and chromedriver):
two backend replicas behind a per-connection round-robin balancer, a frontend in
front of them, all on 127.0.0.1. Every test also checks, when it ends, that the
page asked nothing of another host and logged no JavaScript or CSP error."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from awsme.backend.app import create_backend_app
from awsme.frontend.app import create_frontend_app
from awsme.settings import Settings
from awsme.version import VERSION
from tests.browser.helpers import (
    LOOPBACK,
    PROXY_VARIABLES,
    chart_counts,
    mark_page,
    note_message,
    note_texts,
    off_loopback,
    open_card,
    requested_urls,
    require_browser,
    row,
    same_page,
    save_screenshot,
    start_chromium,
    type_note,
    unique,
    wait,
)
from tests.loopback import LoopbackServer, serve, wait_ready
from tests.tcp_proxy import RoundRobinProxy

GO_SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "go-samples" / "backend-root.json"
REPLICAS = ("backend-a", "backend-b")


@dataclass
class Site:
    """The frontend under test and the two replicas behind the balancer."""

    url: str  # the frontend's card page, ending in /
    prefixed_url: str  # a second frontend, served under /awsme/ with its own colour
    go_url: str  # a third, in front of a Go backend's recorded answer
    down_url: str  # a fourth, whose backend is not there
    balancer: RoundRobinProxy


def go_backend_app() -> Starlette:
    """The Go backend as recorded: 14 keys, notes as plain strings without ids."""
    document = json.loads(GO_SAMPLE.read_text())

    async def root(_: Any) -> JSONResponse:
        return JSONResponse(document)

    async def healthz(_: Any) -> PlainTextResponse:
        return PlainTextResponse("")

    return Starlette(routes=[Route("/", root), Route("/healthz", healthz)])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_browser()
    folder = tmp_path_factory.mktemp("browser-site")
    with pytest.MonkeyPatch.context() as patch:
        for variable in PROXY_VARIABLES:
            patch.delenv(variable, raising=False)
        patch.setenv("NO_PROXY", "*")
        servers: list[LoopbackServer] = []
        balancer: RoundRobinProxy | None = None
        try:
            # Both replicas share one database, as replicas behind a Service do.
            for name in REPLICAS:
                settings = Settings(
                    mode="backend", metadata="simulated", db_url=f"sqlite:///{folder}/notes.db"
                )
                server = LoopbackServer(create_backend_app(settings, {"POD_NAME": name})).start()
                servers.append(server)
                wait_ready(server.url)
            balancer = RoundRobinProxy([server.port for server in servers]).start()
            backend = f"http://{LOOPBACK}:{balancer.port}"
            with socket.socket() as closed:  # a port that refuses connections
                closed.bind((LOOPBACK, 0))
                nowhere = f"http://{LOOPBACK}:{closed.getsockname()[1]}"
            plain = Settings(mode="frontend", backend_service=backend, refresh_interval=0.2)
            prefixed = Settings(
                mode="frontend",
                backend_service=backend,
                refresh_interval=0.2,
                path_prefix="/awsme",
                ui_color="#7c3aed",
            )
            with (
                serve(create_frontend_app(plain)) as front,
                serve(create_frontend_app(prefixed)) as front_prefixed,
                serve(go_backend_app()) as go,
                serve(create_frontend_app(Settings(mode="frontend", backend_service=go.url))) as gf,
                serve(
                    create_frontend_app(Settings(mode="frontend", backend_service=nowhere))
                ) as df,
            ):
                yield Site(
                    url=front.url + "/",
                    prefixed_url=front_prefixed.url + "/awsme/",
                    go_url=gf.url + "/",
                    down_url=df.url + "/",
                    balancer=balancer,
                )
        finally:
            if balancer is not None:
                balancer.stop()
            for server in servers:
                server.stop()


def fill_chart(driver: WebDriver, answers_each: int = 2) -> dict[str, int]:
    """Turn auto-refresh on until both replicas answered `answers_each` times, then off."""
    driver.find_element(By.ID, "reset-chart").click()
    driver.find_element(By.ID, "auto-refresh").click()

    def enough(d: WebDriver) -> dict[str, int] | None:
        counts = chart_counts(d)
        return counts if all(counts.get(r, 0) >= answers_each for r in REPLICAS) else None

    counts: dict[str, int] = wait(driver, enough)
    driver.find_element(By.ID, "auto-refresh").click()
    wait(driver, lambda d: "is-polling" not in d.find_element(By.ID, "live").get_attribute("class"))
    return counts


# ---- the tests ----


def test_card_shows_the_simulators_values(driver: WebDriver, site: Site) -> None:
    open_card(driver, site.url)
    values: dict[str, str] = driver.execute_script(
        "return Object.fromEntries(Array.from(document.querySelectorAll('[data-row]'),"
        " (e) => [e.dataset.row, e.textContent]));"
    )
    assert values["id"] == "i-0123456789abcdef0"
    assert values["zone"] == "us-east-1a"
    assert values["region"] == "us-east-1"
    assert values["instance_type"] == "t3.micro"
    assert values["version"] == VERSION
    assert values["pod"] in REPLICAS
    # The raw request is folded away: present, and shown when its section opens.
    request = row(driver, "request")
    assert not request.is_displayed()
    driver.find_element(By.CSS_SELECTOR, "#request-details summary").click()
    assert "GET / HTTP/1.1" in request.text
    # A value the backend does not know is shown as missing, not as an empty row.
    missing = driver.find_elements(By.CSS_SELECTOR, "dd[data-row].is-missing")
    assert missing, "the simulator leaves some values unknown (namespace, limits)"
    for value in missing:
        assert value.find_element(By.CLASS_NAME, "missing").get_attribute("textContent") == "—"
    # The banner names the replica that answered, as the first row does, and its version.
    assert driver.find_element(By.ID, "replica-key").text == values["pod"]
    assert driver.find_element(By.ID, "replica-version").text.split()[-1] == VERSION
    assert [h.text for h in driver.find_elements(By.CSS_SELECTOR, ".column-main h2")] == [
        "Where it runs",
        "Notes",
    ]
    summaries = driver.find_elements(By.CSS_SELECTOR, ".folds summary")
    assert [s.text for s in summaries] == [
        "Everything else the backend reported",
        "The request as the backend saw it",
    ]


def test_page_loads_everything_from_its_own_origin(driver: WebDriver, site: Site) -> None:
    requested_urls(driver)
    open_card(driver, site.url)
    driver.find_element(By.ID, "refresh-now").click()
    wait(driver, lambda d: sum(chart_counts(d).values()) >= 2)
    urls = requested_urls(driver)
    paths = {urlsplit(url).path for url in urls}
    modules = {f"/static/js/{name}.js" for name in ("main", "card", "chart", "notes", "theme")}
    assert {"/", "/static/app.css", "/static/theme-boot.js", "/theme.css", "/card"} <= paths
    assert modules <= paths, urls
    assert "/api/card" not in paths  # the page draws nothing from JSON
    assert off_loopback(urls) == []


def test_note_added_by_clicking_appears_and_survives_a_reload(
    driver: WebDriver, site: Site
) -> None:
    open_card(driver, site.url)
    text = unique("hello from the browser")
    mark_page(driver)
    type_note(driver, text)
    wait(driver, lambda d: text in note_texts(d))
    assert same_page(driver), "the page reloaded to add the note"
    assert driver.find_element(By.ID, "note-input").get_attribute("value") == ""
    assert "added" in note_message(driver).lower()
    added = driver.find_element(By.XPATH, f'//li[span[@class="note-text"]="{text}"]')
    assert added.get_attribute("data-note-id").isdigit()
    driver.refresh()
    wait(driver, lambda d: text in note_texts(d))


def test_note_added_with_enter(driver: WebDriver, site: Site) -> None:
    open_card(driver, site.url)
    text = unique("enter works")
    mark_page(driver)
    type_note(driver, text, submit="enter")
    wait(driver, lambda d: text in note_texts(d))
    assert same_page(driver)
    driver.refresh()
    wait(driver, lambda d: text in note_texts(d))


def test_hostile_notes_are_shown_as_text_and_run_nothing(driver: WebDriver, site: Site) -> None:
    open_card(driver, site.url)
    driver.execute_script("window.__alerts = []; window.alert = (x) => window.__alerts.push(x);")
    # Scripts, images and every element outside the lists that grow with each answer.
    census = (
        "const growing = '#notes-body *, #replica-chart *, #replica-timeline *';"
        "const grown = new Set(document.querySelectorAll(growing));"
        "const rest = Array.from(document.querySelectorAll('*')).filter((e) => !grown.has(e));"
        "return [document.scripts.length, document.images.length, rest.length];"
    )
    tags = "return Array.from(document.querySelectorAll('#notes *'), (e) => e.localName);"
    before = driver.execute_script(census)
    payloads = ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>"]
    for payload in payloads:
        type_note(driver, payload)
        wait(driver, lambda d, p=payload: p in note_texts(d))
    for reload in (False, True):  # rendered by the script, then by the server
        if reload:
            driver.refresh()
            wait(driver, lambda d: all(p in note_texts(d) for p in payloads))
            driver.execute_script("window.__alerts = [];")
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text  # noqa: B018 - raises when no dialog is open
        notes = driver.find_element(By.ID, "notes")
        assert notes.find_elements(By.TAG_NAME, "img") == []
        assert notes.find_elements(By.TAG_NAME, "script") == []
        assert driver.execute_script(census) == before
        allowed = {"li", "span", "time", "form", "button", "svg", "use"}
        assert set(driver.execute_script(tags)) <= allowed
        assert driver.execute_script("return window.__alerts || [];") == []


def test_empty_note_is_refused_with_the_backends_message(driver: WebDriver, site: Site) -> None:
    open_card(driver, site.url)
    count = len(note_texts(driver))
    type_note(driver, "")
    wait(driver, lambda d: "400" in note_message(d))
    message = driver.find_element(By.ID, "note-message")
    assert "note is empty" in message.text
    assert "is-error" in message.get_attribute("class")
    assert len(note_texts(driver)) == count


def test_delete_a_note(driver: WebDriver, site: Site) -> None:
    open_card(driver, site.url)
    text = unique("short-lived")
    type_note(driver, text)
    wait(driver, lambda d: text in note_texts(d))
    item = driver.find_element(By.XPATH, f'//li[span[@class="note-text"]="{text}"]')
    item.find_element(By.CSS_SELECTOR, "form.note-delete button").click()
    wait(driver, lambda d: text not in note_texts(d))
    assert "deleted" in note_message(driver).lower()
    driver.refresh()
    wait(driver, lambda d: d.find_element(By.ID, "notes-count"))
    assert text not in note_texts(driver)


def test_auto_refresh_charts_both_replicas(driver: WebDriver, site: Site) -> None:
    open_card(driver, site.url)
    before = site.balancer.connections
    counts = fill_chart(driver, answers_each=3)
    assert set(counts) == set(REPLICAS), counts
    assert site.balancer.connections - before >= 6  # each poll a fresh connection
    bars = driver.find_elements(By.CSS_SELECTOR, "#replica-chart [data-replica]")
    for bar in bars:
        assert bar.find_element(By.CLASS_NAME, "bar-version").text == VERSION
        assert "%" in bar.find_element(By.CLASS_NAME, "bar-value").text
    assert len(driver.find_elements(By.CSS_SELECTOR, "#replica-chart .is-current")) == 1
    total = int(driver.find_element(By.ID, "live-total").text)
    failed = int(driver.find_element(By.ID, "failed-bar").get_attribute("data-count"))
    assert total == sum(chart_counts(driver).values()) + failed
    # The counts are kept for this tab across a reload, which counts as one more answer.
    driver.refresh()
    wait(driver, lambda d: sum(chart_counts(d).values()) + failed == total + 1)
    driver.find_element(By.ID, "reset-chart").click()
    assert chart_counts(driver) == {}


def test_theme_follows_the_system_and_the_toggle_is_remembered(
    driver: WebDriver, site: Site
) -> None:
    open_card(driver, site.url)
    driver.execute_script("localStorage.clear();")
    dark = {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", dark)
    open_card(driver, site.url)
    theme = "return document.documentElement.dataset.theme;"
    assert driver.execute_script(theme) == "dark"
    background = "return getComputedStyle(document.body).backgroundColor;"
    assert driver.execute_script(background) == "rgb(13, 17, 23)"
    toggle = driver.find_element(By.ID, "theme-toggle")
    assert toggle.get_attribute("aria-pressed") == "true"
    toggle.click()
    assert driver.execute_script(theme) == "light"
    open_card(driver, site.url)  # remembered, although the system still prefers dark
    assert driver.execute_script(theme) == "light"
    assert driver.execute_script(background) == "rgb(242, 244, 247)"
    driver.execute_script("localStorage.clear();")


def test_keyboard_only(driver: WebDriver, site: Site) -> None:
    open_card(driver, site.url)
    reached: list[str] = []
    for _ in range(12):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        reached.append(driver.switch_to.active_element.get_attribute("id") or "")
    for control in ("theme-toggle", "auto-refresh", "refresh-now", "reset-chart"):
        assert control in reached, reached
    outline = driver.execute_script("return getComputedStyle(document.activeElement).outlineStyle;")
    assert outline != "none"
    # The switch works from the keyboard.
    switch = driver.find_element(By.ID, "auto-refresh")
    assert not switch.is_selected()
    driver.execute_script("arguments[0].focus();", switch)
    switch.send_keys(Keys.SPACE)
    wait(driver, lambda d: sum(chart_counts(d).values()) >= 3)
    switch.send_keys(Keys.SPACE)
    assert not switch.is_selected()


def test_layout_holds_at_phone_width(driver: WebDriver, site: Site) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 375, "height": 812, "deviceScaleFactor": 2, "mobile": True},
    )
    open_card(driver, site.url)
    type_note(driver, "a-very-long-note-without-any-spaces-" * 4)
    wait(driver, lambda d: any(t.startswith("a-very-long") for t in note_texts(d)))
    assert driver.execute_script("return window.innerWidth;") == 375
    wide = driver.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth;"
    )
    assert wide, "the page scrolls sideways at 375 px"
    for element in driver.find_elements(By.CSS_SELECTOR, ".card, .banner, .row dd"):
        assert element.rect["x"] + element.rect["width"] <= 375 + 0.5, element.get_attribute("id")


def test_screenshots_light_dark_phone(driver: WebDriver, site: Site) -> None:
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    open_card(driver, site.url)
    driver.execute_script("localStorage.setItem('awsme.theme', 'light');")
    open_card(driver, site.url)
    fill_chart(driver, answers_each=4)
    assert save_screenshot(driver, "card-light.png").stat().st_size > 10_000
    driver.find_element(By.ID, "theme-toggle").click()
    assert save_screenshot(driver, "card-dark.png").stat().st_size > 10_000
    driver.find_element(By.ID, "theme-toggle").click()
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 375, "height": 812, "deviceScaleFactor": 2, "mobile": True},
    )
    open_card(driver, site.url)
    assert save_screenshot(driver, "card-phone.png").stat().st_size > 10_000
    driver.execute_script("localStorage.clear();")


def test_under_a_path_prefix(driver: WebDriver, site: Site) -> None:
    open_card(driver, site.prefixed_url)
    accent = driver.execute_script(
        "return getComputedStyle(document.documentElement).getPropertyValue('--accent').trim();"
    )
    assert accent == "#7c3aed"
    text = unique("behind an ingress")
    type_note(driver, text, submit="enter")
    wait(driver, lambda d: text in note_texts(d))
    counts = fill_chart(driver, answers_each=1)
    assert set(counts) == set(REPLICAS)
    paths = driver.execute_script(
        "return performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname);"
    )
    assert paths and all(path.startswith("/awsme/") for path in paths), paths


def test_card_from_a_go_backend(driver: WebDriver, site: Site) -> None:
    open_card(driver, site.go_url)
    assert row(driver, "id").text == "i-0123456789abcdef0"
    assert row(driver, "version").get_attribute("textContent") == "1.0.0"
    # It knows none of the new rows: one line says so, and the folded rows hold only
    # what it reported instead of a column of dashes.
    assert driver.find_element(By.ID, "legacy-backend").is_displayed()
    folded = driver.find_elements(By.CSS_SELECTOR, "#more-rows dd")
    assert folded and not driver.find_elements(By.CSS_SELECTOR, "#more-rows dd.is-missing")
    # The banner names it by its instance id, as the rows do.
    assert driver.find_element(By.ID, "replica-key").text == row(driver, "id").text
    # Its note is text, and without an id it cannot be deleted.
    assert note_texts(driver) == ["hello <b>x</b>"]
    notes = driver.find_element(By.ID, "notes")
    assert notes.find_elements(By.TAG_NAME, "b") == []
    assert notes.find_elements(By.TAG_NAME, "button") == []
    assert chart_counts(driver) == {"i-0123456789abcdef0": 1}


def test_backend_down_is_said_clearly(driver: WebDriver, site: Site) -> None:
    driver.get(site.down_url)
    status = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#status-line.is-failed"))[0]
    message = status.find_element(By.ID, "status-message").text
    assert message.startswith("no backend is listening at http://127.0.0.1:"), message
    assert driver.find_element(By.ID, "page-status").text == "503"
    assert driver.find_element(By.ID, "replica-key").text == "no backend"
    assert "No backend answered" in driver.find_element(By.ID, "facts").text
    # The notes are unknown, not empty.
    assert driver.find_element(By.ID, "notes-count").text == "?"
    assert driver.find_elements(By.ID, "notes-empty") == []
    assert not driver.find_element(By.ID, "add-note").is_enabled()
    # Polling a dead backend counts failures, not replicas.
    driver.find_element(By.ID, "auto-refresh").click()
    wait(driver, lambda d: int(d.find_element(By.ID, "live-errors").text) >= 3)
    driver.find_element(By.ID, "auto-refresh").click()
    assert chart_counts(driver) == {}
    failed = driver.find_element(By.ID, "failed-bar")
    assert failed.get_attribute("data-count") == driver.find_element(By.ID, "live-errors").text
    assert failed.find_element(By.CLASS_NAME, "bar-value").text.endswith("100%")
    assert driver.find_elements(By.CSS_SELECTOR, "#status-line.is-failed")


def test_forms_work_without_javascript(site: Site, tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")
        driver = start_chromium(tmp_path / "profile", javascript=False)
    try:
        driver.get(site.url)
        assert not driver.find_element(By.ID, "live").is_displayed()  # needs a script
        text = unique("no script needed")
        type_note(driver, text)
        wait(driver, lambda d: text in note_texts(d))  # posted, redirected back
        assert urlsplit(driver.current_url).path == "/"
        type_note(driver, "")
        wait(driver, lambda d: d.find_elements(By.ID, "message-status"))
        assert driver.find_element(By.ID, "message-status").text == "400"
        assert "note is empty" in driver.find_element(By.ID, "message-text").text
        driver.find_element(By.LINK_TEXT, "Back to the card").click()
        item = wait(
            driver,
            lambda d: d.find_elements(By.XPATH, f'//li[span[@class="note-text"]="{text}"]'),
        )[0]
        item.find_element(By.CSS_SELECTOR, "form.note-delete button").click()
        wait(driver, lambda d: d.find_elements(By.ID, "note-input") and text not in note_texts(d))
        assert off_loopback(requested_urls(driver)) == []
    finally:
        driver.quit()
