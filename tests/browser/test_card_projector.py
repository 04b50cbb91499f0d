"""The card as an instructor projects it (issue 11), in headless Chromium, checked by
geometry and text at 1280x720 and 390x844:

- a Deployment's pods (one ReplicaSet, then a rollout to another) behind a
  per-connection balancer: labels that tell them apart, one colour per replica,
  replicas that stop answering greyed, never removed;
- one backend dead behind the balancer: failed polls move nothing;
- MariaDB cut through a loopback proxy: the notes box never claims there are none;
- the first screen shows who answered, where, the chart and the top of the notes.

Every server is on 127.0.0.1; metadata comes from the built-in simulator."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from awsme.backend.app import create_backend_app
from awsme.frontend.app import create_frontend_app
from awsme.settings import Settings
from tests.browser.helpers import (
    PROXY_VARIABLES,
    chart_counts,
    note_texts,
    open_card,
    require_browser,
    save_screenshot,
    type_note,
    unique,
    wait,
)
from tests.databases import ThrowawayDatabase
from tests.loopback import LoopbackServer, serve, wait_ready
from tests.tcp_proxy import RoundRobinProxy, TcpProxy

OLD = ("backend-5f7c9d8b6-x2k4p", "backend-5f7c9d8b6-q9wzm", "backend-5f7c9d8b6-h7jtn")
NEW = ("backend-7d4b8c6f9-m2xvp", "backend-7d4b8c6f9-k8zrt", "backend-7d4b8c6f9-w5nqd")
NEW_VERSION = "2.1.0"
FRONTEND_POD = "frontend-6b8d7c5f4-tq2lx"
SIZES = ((1280, 720), (390, 844))
FIRST_SCREEN = (
    "#answered .swatch",
    "#replica-key",
    "#replica-version",
    '#facts dd[data-row="pod"]',
    '#facts dd[data-row="node"]',
    '#facts dd[data-row="zone"]',
    '#facts dd[data-row="zone_id"]',
    '#facts dd[data-row="id"]',
    '#facts dd[data-row="instance_type"]',
    "#live-title",
    "#replica-chart",
    "#failed-bar",
    "#notes-title",
    "#notes-count",
    "#frontend-name",
)


class NewVersion:
    """The same backend built as another version: a rollout's new image. Rewrites
    the version in `GET /` on its way out, as a new build would report it."""

    def __init__(self, app: ASGIApp, version: str) -> None:
        self.app = app
        self.version = version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/":
            await self.app(scope, receive, send)
            return
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            if start["status"] == 200:
                document = json.loads(body)
                document["Version"] = self.version
                document["Instance"]["served_by"]["version"] = self.version
                body = json.dumps(document).encode()
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)


@dataclass
class Cluster:
    url: str  # the frontend in front of the balancer
    balancer: RoundRobinProxy
    ports: dict[str, int]  # pod name -> its backend's port
    broken_url: str  # a frontend whose balancer also sends to a dead port
    notes_db: Path

    def route_to(self, *pods: str) -> None:
        """What a Service's endpoints become as pods start and stop."""
        self.balancer.target_ports[:] = [self.ports[pod] for pod in pods]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_browser()
    folder = tmp_path_factory.mktemp("projector")
    notes_db = folder / "notes.db"
    with pytest.MonkeyPatch.context() as patch:
        for variable in PROXY_VARIABLES:
            patch.delenv(variable, raising=False)
        patch.setenv("NO_PROXY", "*")
        servers: list[LoopbackServer] = []
        balancers: list[RoundRobinProxy] = []
        try:
            ports = {}
            for number, pod in enumerate(OLD + NEW):
                settings = Settings(
                    mode="backend", metadata="simulated", db_url=f"sqlite:///{notes_db}"
                )
                environ = {"POD_NAME": pod, "NODE_NAME": f"ip-10-0-{number % 2}-17.ec2.internal"}
                app: ASGIApp = create_backend_app(settings, environ)
                if pod in NEW:
                    app = NewVersion(app, NEW_VERSION)
                server = LoopbackServer(app).start()
                servers.append(server)
                wait_ready(server.url)
                ports[pod] = server.port
            balancer = RoundRobinProxy([ports[pod] for pod in OLD]).start()
            balancers.append(balancer)
            with socket.socket() as closed:
                closed.bind(("127.0.0.1", 0))
                dead = closed.getsockname()[1]
            broken = RoundRobinProxy([ports[OLD[0]], dead]).start()
            balancers.append(broken)
            environ = {"POD_NAME": FRONTEND_POD}

            def frontend(balancer: RoundRobinProxy) -> Any:
                settings = Settings(
                    mode="frontend",
                    backend_service=f"http://127.0.0.1:{balancer.port}",
                    refresh_interval=0.2,
                    ui_message="Rollout to 2.1.0 — watch the colours",
                )
                return serve(create_frontend_app(settings, environ=environ))

            with frontend(balancer) as front, frontend(broken) as broken_front:
                yield Cluster(front.url + "/", balancer, ports, broken_front.url + "/", notes_db)
        finally:
            for proxy in balancers:
                proxy.stop()
            for server in servers:
                server.stop()


# ---- measuring the page ----


def set_size(driver: WebDriver, width: int, height: int) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500},
    )


def boxes(driver: WebDriver, selectors: tuple[str, ...]) -> dict[str, list[float] | None]:
    """The first element's box for each selector, [left, top, right, bottom], or None."""
    found: dict[str, list[float] | None] = driver.execute_script(
        "const out = {};"
        "for (const s of arguments[0]) {"
        "  const e = document.querySelector(s);"
        "  if (!e) { out[s] = null; continue; }"
        "  const r = e.getBoundingClientRect();"
        "  out[s] = [r.left, r.top, r.right, r.bottom].map((v) => Math.round(v * 10) / 10);"
        "}"
        "return out;",
        list(selectors),
    )
    return found


def outside_first_screen(driver: WebDriver, selectors: tuple[str, ...]) -> dict[str, Any]:
    width, height = driver.execute_script("return [window.innerWidth, window.innerHeight];")
    return {
        selector: box
        for selector, box in boxes(driver, selectors).items()
        if box is None
        or box[0] < 0
        or box[1] < 0
        or box[2] > width + 0.5
        or box[3] > height + 0.5
        or box[2] - box[0] < 1
    }


def fill(driver: WebDriver, pods: tuple[str, ...], each: int = 2) -> None:
    """Auto-refresh until each of `pods` answered `each` times."""
    toggle = driver.find_element(By.ID, "auto-refresh")
    if not toggle.is_selected():
        toggle.click()
    wait(driver, lambda d: all(chart_counts(d).get(p, 0) >= each for p in pods), timeout=20)


def stop_polling(driver: WebDriver) -> None:
    toggle = driver.find_element(By.ID, "auto-refresh")
    if toggle.is_selected():
        toggle.click()
    wait(driver, lambda d: "is-polling" not in d.find_element(By.ID, "live").get_attribute("class"))


def bar_labels(driver: WebDriver) -> dict[str, dict[str, Any]]:
    """Each bar, in the chart's order (a list: WebDriver sorts an object's keys)."""
    bars: list[tuple[str, dict[str, Any]]] = driver.execute_script(
        "const out = [];"
        "for (const bar of document.querySelectorAll('#replica-chart [data-replica]')) {"
        "  const key = bar.querySelector('.bar-key');"
        "  out.push([bar.dataset.replica, {"
        "    label: key.textContent, clipped: key.scrollWidth > key.clientWidth + 1"
        "      || key.getBoundingClientRect().right > bar.getBoundingClientRect().right,"
        "    version: bar.querySelector('.bar-version').textContent,"
        "    state: bar.querySelector('.bar-state').textContent,"
        "    gone: bar.classList.contains('is-gone'),"
        "    top: Math.round(bar.getBoundingClientRect().top + window.scrollY),"
        "    colour: getComputedStyle(bar.querySelector('.bar-dot')).backgroundColor,"
        "  }]);"
        "}"
        "return out;"
    )
    return dict(bars)


def colours_of_current(driver: WebDriver) -> tuple[str, str, str]:
    found: list[str] = driver.execute_script(
        "const bg = (s) => getComputedStyle(document.querySelector(s)).backgroundColor;"
        "return [bg('#answered .swatch'), bg('#replica-chart .is-current .bar-dot'),"
        " bg('#replica-timeline .tick:last-child')];"
    )
    return found[0], found[1], found[2]


# ---- the tests ----


def test_replicas_told_apart_through_a_rollout(driver: WebDriver, cluster: Cluster) -> None:
    cluster.route_to(*OLD)
    set_size(driver, 1280, 720)
    open_card(driver, cluster.url)
    driver.find_element(By.ID, "reset-chart").click()
    fill(driver, OLD)
    stop_polling(driver)
    bars = bar_labels(driver)
    assert set(bars) == set(OLD)
    labels = {pod: bar["label"] for pod, bar in bars.items()}
    assert len(set(labels.values())) == 3, labels
    for pod, label in labels.items():
        assert label.endswith(pod[-5:]) and label.startswith("backend-5f7c"), label
        assert not bars[pod]["clipped"], pod
    # The banner: the same label, with a swatch in the colour of the replica's bar.
    current = driver.find_element(By.CSS_SELECTOR, "#replica-chart .is-current").get_attribute(
        "data-replica"
    )
    assert driver.find_element(By.ID, "replica-key").text == labels[current]
    swatch, bar, tick = colours_of_current(driver)
    assert swatch == bar == tick, (swatch, bar, tick)
    assert len({b["colour"] for b in bars.values()}) == 3  # one colour each
    tops = {pod: bars[pod]["top"] for pod in OLD}

    # The rollout: a pod of the new ReplicaSet starts, an old one stops, and so on.
    fill(driver, OLD, each=3)
    for step in range(1, 4):
        cluster.route_to(*OLD[step:], *NEW[:step])
        fill(driver, NEW[:step], each=2)
    wait(driver, lambda d: all(bar_labels(d)[pod]["gone"] for pod in OLD), timeout=20)
    stop_polling(driver)
    bars = bar_labels(driver)
    # In order of first answer, none removed: the old pods, then the new as they came.
    assert set(list(bars)[:3]) == set(OLD) and list(bars)[3:] == list(NEW)
    assert len({bar["label"] for bar in bars.values()}) == 6
    for pod in OLD:
        assert bars[pod]["gone"] and bars[pod]["state"].startswith("gone · last seen "), bars[pod]
        assert bars[pod]["top"] == tops[pod]  # the old rows did not move
    for pod in NEW:
        assert bars[pod]["label"].startswith("backend-7d4b…") and bars[pod]["label"].endswith(
            pod[-5:]
        )
        assert bars[pod]["version"] == NEW_VERSION and not bars[pod]["gone"]
    assert driver.find_element(By.ID, "replica-version").text.split()[-1] == NEW_VERSION
    swatch, bar, tick = colours_of_current(driver)
    assert swatch == bar == tick
    # The summary counts what the bars count.
    total = int(driver.find_element(By.ID, "live-total").text)
    failed = int(driver.find_element(By.ID, "failed-bar").get_attribute("data-count"))
    assert total == sum(chart_counts(driver).values()) + failed
    driver.execute_script("window.scrollTo(0, 0);")
    # Six rows still fit the projector's first screen, with the failed-calls bar.
    assert outside_first_screen(driver, ("#answered", "#replica-chart", "#failed-bar")) == {}
    save_screenshot(driver, "rollout-1280x720.png")
    set_size(driver, 390, 844)
    for pod, bar in bar_labels(driver).items():
        assert not bar["clipped"], pod
    save_screenshot(driver, "rollout-390x844.png")


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_the_first_screen_shows_what_matters(
    driver: WebDriver, cluster: Cluster, width: int, height: int
) -> None:
    cluster.route_to(*OLD)
    set_size(driver, width, height)
    open_card(driver, cluster.url)
    if not note_texts(driver):
        type_note(driver, "hello from the projector")
        wait(driver, lambda d: note_texts(d))
    driver.find_element(By.ID, "reset-chart").click()
    fill(driver, OLD, each=1)
    stop_polling(driver)
    driver.execute_script("window.scrollTo(0, 0);")
    save_screenshot(driver, f"first-screen-{width}x{height}.png")
    assert outside_first_screen(driver, FIRST_SCREEN) == {}
    if width >= 1000:  # and the first notes themselves
        assert outside_first_screen(driver, ("#notes .note", "#note-input", "#add-note")) == {}
    assert driver.execute_script("return document.documentElement.scrollWidth;") <= width
    # The raw request and the long tail are folded away, one click from the screen.
    assert not driver.find_element(By.ID, "more-details").get_attribute("open")
    assert not driver.find_element(By.ID, "request").is_displayed()
    assert outside_first_screen(driver, ("#more-details summary",)) == {} or width < 500
    if width >= 1000:  # two columns: the chart beside the facts
        facts, live = (boxes(driver, ("#backend", "#live"))[s] for s in ("#backend", "#live"))
        assert facts and live and live[0] > facts[2] and abs(live[1] - facts[1]) < 1
    driver.find_element(By.CSS_SELECTOR, "#request-details summary").click()
    assert "GET / HTTP/1.1" in driver.find_element(By.ID, "request").text
    save_screenshot(driver, f"request-open-{width}x{height}.png")


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_failed_polls_move_nothing(
    driver: WebDriver, cluster: Cluster, width: int, height: int
) -> None:
    set_size(driver, width, height)
    for _ in range(4):  # a page load that the live backend answered (every other one)
        driver.get(cluster.broken_url)
        wait(driver, lambda d: d.find_elements(By.ID, "status-line"))
        if driver.find_elements(By.CSS_SELECTOR, '#facts dd[data-row="pod"]'):
            break
    driver.execute_script("window.scrollTo(0, 0);")
    # The chart already holds the live replica (this page load): from here on, no
    # element may appear, disappear or move, whatever each poll brings.
    watched = (
        ".banner",
        "#answered",
        "#replica-key",
        "#status-line",
        "#backend",
        '#facts dd[data-row="pod"]',
        '#facts dd[data-row="instance_type"]',
        "#live",
        "#replica-chart",
        "#failed-bar",
        "#notes-card",
        "#notes-title",
        "#note-input",
        "#add-note",
        "#more",
    )
    driver.execute_script(
        "window.__answers = [];"
        "window.__shifts = [];"
        "new PerformanceObserver((list) => {"
        "  for (const entry of list.getEntries())"
        "    for (const source of entry.sources || []) {"
        # A text node has no closest(): ask its element (the chart's own text
        # inside #live moves by design, as its counts grow).
        "      const element = source.node && (source.node.nodeType === 1"
        "        ? source.node : source.node.parentElement);"
        "      if (element && !element.closest('#live'))"
        "        window.__shifts.push(source.node.nodeName + ' in '"
        "          + (element.id || element.className || element.nodeName));"
        "    }"
        "}).observe({ type: 'layout-shift' });"
        "document.addEventListener('awsme:answer', (event) => {"
        "  const boxes = {};"
        "  for (const s of arguments[0]) {"
        "    const r = document.querySelector(s).getBoundingClientRect();"
        "    const width = s === '#replica-key' ? 0 : r.width;"  # its text changes, not its place
        "    boxes[s] = [r.left, r.top, width, r.height].map((v) => Math.round(v * 10) / 10);"
        "  }"
        "  window.__answers.push({ ok: event.detail.ok, boxes,"
        "    status: document.getElementById('status-line').textContent"
        "      .replace(/\\s+/g, ' ').trim(),"
        "    banner: document.getElementById('replica-key').textContent });"
        "});",
        list(watched),
    )
    driver.find_element(By.ID, "auto-refresh").click()

    def enough(d: WebDriver) -> list[dict[str, Any]] | None:
        answers: list[dict[str, Any]] = d.execute_script("return window.__answers;")
        failed = [a for a in answers if not a["ok"]]
        return answers if len(failed) >= 4 and len(answers) - len(failed) >= 4 else None

    answers = wait(driver, enough, timeout=20)
    stop_polling(driver)
    first = answers[0]["boxes"]
    for answer in answers:
        moved = {s: (first[s], box) for s, box in answer["boxes"].items() if box != first[s]}
        assert moved == {}, f"moved after a {'successful' if answer['ok'] else 'failed'} poll"
    assert driver.execute_script("return window.__shifts;") == []
    for answer in answers:
        if answer["ok"]:
            assert "200 the backend answered" in answer["status"], answer["status"]
            assert answer["banner"] == "backend-5f7c…-x2k4p"
        else:  # in words, and the banner does not pretend the last replica answered
            assert "503 backend closed the connection" in answer["status"], answer["status"]
            assert answer["banner"] == "no backend"
    total = int(driver.find_element(By.ID, "live-total").text)
    failed = int(driver.find_element(By.ID, "failed-bar").get_attribute("data-count"))
    assert failed >= 4 and total == sum(chart_counts(driver).values()) + failed
    assert driver.find_element(By.ID, "live-errors").text == str(failed)
    # One more failed poll, to keep a picture of that state.
    driver.find_element(By.ID, "refresh-now").click()
    wait(driver, lambda d: d.execute_script("return window.__answers.length;") > len(answers))
    if driver.execute_script("return document.body.dataset.answer;") != "failed":
        driver.find_element(By.ID, "refresh-now").click()
        wait(driver, lambda d: d.execute_script("return document.body.dataset.answer;") == "failed")
    save_screenshot(driver, f"failed-poll-{width}x{height}.png")


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_differs_legend_reads_in_both_themes(
    driver: WebDriver, cluster: Cluster, theme: str
) -> None:
    cluster.route_to(*OLD)
    set_size(driver, 1280, 720)
    open_card(driver, cluster.url)
    driver.execute_script(f"localStorage.setItem('awsme.theme', '{theme}');")
    open_card(driver, cluster.url)
    driver.find_element(By.ID, "reset-chart").click()
    fill(driver, OLD[:2], each=1)
    stop_polling(driver)
    legend = driver.find_element(By.ID, "differs-legend")
    assert legend.is_displayed() and legend.text == "differs between replicas"
    assert outside_first_screen(driver, ("#differs-legend .differs-mark",)) == {}
    differing = driver.execute_script(
        "return Array.from(document.querySelectorAll('#facts dd.differs'), (e) => e.dataset.row);"
    )
    assert "pod" in differing and "zone" not in differing and "id" not in differing
    # The mark is the same on the legend and on the rows, and stands out from the card.
    contrast = driver.execute_script(
        "const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);"
        "const lum = (c) => { const v = rgb(c).map((x) => { x /= 255;"
        "  return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; });"
        "  return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };"
        "const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);"
        "  return (x + 0.05) / (y + 0.05); };"
        "const style = (s) => getComputedStyle(document.querySelector(s));"
        "const surface = style('#backend').backgroundColor;"
        "const mark = style('#differs-legend .differs-mark');"
        "const cell = style('#facts dd.differs');"
        "const bar = mark.boxShadow.match(/rgba?\\([^)]*\\)/)[0];"
        "return { bar: ratio(bar, surface), tint: ratio(mark.backgroundColor, surface),"
        "  same: mark.boxShadow === cell.boxShadow"
        "    && mark.backgroundColor === cell.backgroundColor,"
        "  text: ratio(cell.color, cell.backgroundColor) };"
    )
    assert contrast["same"], contrast
    assert contrast["bar"] >= 3, contrast  # WCAG's 3:1 for graphics, on a projector
    assert contrast["tint"] >= 1.2, contrast
    assert contrast["text"] >= 4.5, contrast
    save_screenshot(driver, f"differs-{theme}-1280x720.png")
    set_size(driver, 390, 844)
    assert outside_first_screen(driver, ("#differs-legend .differs-mark",)) == {}
    save_screenshot(driver, f"differs-{theme}-390x844.png")


def test_note_times_banner_message_and_frontend(driver: WebDriver, cluster: Cluster) -> None:
    cluster.route_to(*OLD)
    two_minutes_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    old_note = unique("written two minutes ago")
    with sqlite3.connect(cluster.notes_db) as db:  # as if added then
        naive = two_minutes_ago.replace(tzinfo=None).isoformat(sep=" ")
        db.execute(
            "INSERT INTO notes (created_at, updated_at, note) VALUES (?, ?, ?)",
            (naive, naive, old_note),
        )
    set_size(driver, 1280, 720)
    open_card(driver, cluster.url + "?fresh=1")
    text = unique("just added")
    type_note(driver, text)
    wait(driver, lambda d: text in note_texts(d))
    times = driver.execute_script(
        "return Object.fromEntries(Array.from(document.querySelectorAll('#notes .note'), (li) => {"
        "  const t = li.querySelector('time');"
        "  return [li.querySelector('.note-text').textContent,"
        "          t && [t.textContent, t.getAttribute('datetime'), t.title]];"
        "}));"
    )
    assert times[old_note] == [
        "2 min ago",
        two_minutes_ago.isoformat(),
        two_minutes_ago.strftime("%Y-%m-%d %H:%M:%S UTC"),
    ]
    shown, stamp, exact = times[text]
    assert shown == "just now"
    assert abs(datetime.fromisoformat(stamp) - datetime.now(UTC)) < timedelta(seconds=30)
    assert exact == datetime.fromisoformat(stamp).strftime("%Y-%m-%d %H:%M:%S UTC")
    # The rollout message, escaped, in the banner; the frontend pod, on every answer.
    assert driver.find_element(By.ID, "ui-message").text == "Rollout to 2.1.0 — watch the colours"
    assert driver.find_element(By.ID, "frontend-name").text == FRONTEND_POD
    assert outside_first_screen(driver, ("#ui-message", "#frontend-name")) == {}
    font = driver.execute_script(
        "return parseFloat(getComputedStyle(document.getElementById('frontend-name')).fontSize);"
    )
    assert font >= 12  # small, but readable from the back of the room
    save_screenshot(driver, "notes-and-message-1280x720.png")
    set_size(driver, 390, 844)
    assert outside_first_screen(driver, ("#ui-message", "#frontend-name")) == {}
    save_screenshot(driver, "notes-and-message-390x844.png")


# ---- the notes box while MariaDB is away ----


@pytest.fixture
def outage(mariadb: ThrowawayDatabase) -> Iterator[tuple[str, TcpProxy, Any]]:
    """A backend on MariaDB through a loopback proxy that the test cuts and restores,
    and a frontend in front of it; also a way to start a second, fresh frontend."""
    proxy = TcpProxy(mariadb.port).start()
    settings = Settings(
        mode="backend",
        metadata="simulated",
        db_url=mariadb.url_via(proxy.port),
        run_migrations=True,
        notes_cache=0.0,
        db_timeout=1.0,
    )
    environ = {"POD_NAME": OLD[0]}
    try:
        with serve(create_backend_app(settings, environ)) as backend:
            wait_ready(backend.url)

            def frontend() -> Any:
                front = Settings(mode="frontend", backend_service=backend.url, refresh_interval=0.2)
                return serve(create_frontend_app(front, environ={"POD_NAME": FRONTEND_POD}))

            with frontend() as front:
                yield front.url + "/", proxy, frontend
    finally:
        proxy.stop()


def notes_state(driver: WebDriver) -> str:
    # In one script call: the poll may swap the box between two WebDriver calls.
    state: str = driver.execute_script(
        "return document.getElementById('notes-body').dataset.notes;"
    )
    return state


def test_notes_during_a_database_outage(
    driver: WebDriver, outage: tuple[str, TcpProxy, Any]
) -> None:
    url, proxy, another_frontend = outage
    set_size(driver, 1280, 720)
    open_card(driver, url)
    kept = [unique("survives the outage"), unique("so does this one")]
    for text in kept:
        type_note(driver, text)
        wait(driver, lambda d, t=text: t in note_texts(d))
    # Every state the notes box goes through, as it happens.
    driver.execute_script(
        "window.__notes = [];"
        "const record = () => window.__notes.push({"
        "  count: document.getElementById('notes-count').textContent,"
        "  empty: Boolean(document.getElementById('notes-empty')),"
        "  texts: Array.from(document.querySelectorAll('#notes .note-text'), (e) => e.textContent),"
        "  state: document.getElementById('notes-body').dataset.notes });"
        "new MutationObserver(record).observe(document.querySelector('main'),"
        "  { childList: true, subtree: true, characterData: true });"
        "document.addEventListener('awsme:answer', record);"
    )
    driver.find_element(By.ID, "auto-refresh").click()
    proxy.cut()
    wait(driver, lambda d: notes_state(d) == "stale")
    # The age of the kept list grows with each poll ("just now", then "… s ago").
    state_text = "return document.getElementById('notes-state').textContent;"
    wait(driver, lambda d: " s ago" in d.execute_script(state_text), timeout=20)
    stop_polling(driver)
    state = driver.find_element(By.ID, "notes-state").text
    assert state.startswith("Notes are unavailable. Showing the list as it was "), state
    assert "Adding and deleting are off until then." in state
    assert "the database is unavailable" in state
    assert note_texts(driver) == kept
    count = driver.find_element(By.ID, "notes-count")
    assert count.text == "2" and "is-stale" in count.get_attribute("class")
    add = driver.find_element(By.ID, "add-note")
    assert not add.is_enabled() and add.get_attribute("aria-describedby") == "notes-state"
    assert "notes are unavailable" in add.get_attribute("title")
    deletes = driver.find_elements(By.CSS_SELECTOR, "#notes form.note-delete button")
    assert deletes and not any(button.is_enabled() for button in deletes)
    seen = driver.execute_script("return window.__notes;")
    assert any(s["state"] == "stale" for s in seen)
    assert all(s["count"] not in ("0", "") and not s["empty"] for s in seen), seen
    save_screenshot(driver, "notes-outage-1280x720.png")
    set_size(driver, 390, 844)
    save_screenshot(driver, "notes-outage-390x844.png")
    # A frontend that never saw the list does not know it, and says so.
    with another_frontend() as fresh:
        driver.get(fresh.url + "/")
        wait(driver, lambda d: d.find_elements(By.ID, "notes-body"))
        assert notes_state(driver) == "unknown"
        assert driver.find_element(By.ID, "notes-count").text == "?"
        assert "unknown" in driver.find_element(By.ID, "notes-state").text
        assert driver.find_elements(By.ID, "notes-empty") == []
        save_screenshot(driver, "notes-unknown-390x844.png")
        set_size(driver, 1280, 720)
        save_screenshot(driver, "notes-unknown-1280x720.png")
    # The database comes back: the next poll shows the live list, with Add on again.
    open_card(driver, url)
    assert notes_state(driver) == "stale"
    driver.execute_script(
        "window.__after = 0;"
        "document.addEventListener('awsme:answer', () => { window.__after += 1; });"
        "window.__notes = [];"
        "new MutationObserver(() => window.__notes.push({"
        "  count: document.getElementById('notes-count').textContent,"
        "  empty: Boolean(document.getElementById('notes-empty')) }))"
        ".observe(document.querySelector('main'), { childList: true, subtree: true });"
    )
    proxy.restore()
    driver.find_element(By.ID, "auto-refresh").click()
    wait(driver, lambda d: notes_state(d) == "ok")
    assert driver.execute_script("return window.__after;") <= 2  # the first poll, or the next
    stop_polling(driver)
    assert note_texts(driver) == kept
    assert driver.find_element(By.ID, "add-note").is_enabled()
    assert driver.find_elements(By.ID, "notes-state") == []
    after = unique("after the outage")
    type_note(driver, after)
    wait(driver, lambda d: after in note_texts(d))
    seen = driver.execute_script("return window.__notes;")
    assert seen and all(s["count"] not in ("0", "") and not s["empty"] for s in seen), seen


def test_a_frontend_that_went_away_is_said_too(driver: WebDriver, cluster: Cluster) -> None:
    """No card came back at all: the script says so in the status line itself."""
    cluster.route_to(*OLD)
    settings = Settings(
        mode="frontend", backend_service=f"http://127.0.0.1:{cluster.balancer.port}"
    )
    with serve(create_frontend_app(settings, environ={"POD_NAME": FRONTEND_POD})) as front:
        open_card(driver, front.url + "/")
    driver.find_element(By.ID, "refresh-now").click()
    wait(driver, lambda d: d.execute_script("return document.body.dataset.answer;") == "failed")
    message = driver.find_element(By.ID, "status-message").text
    assert message == "the frontend could not be reached"
    assert "is-failed" in driver.find_element(By.ID, "status-line").get_attribute("class")
    assert driver.find_element(By.ID, "replica-key").text == "no answer"
    assert driver.find_element(By.ID, "failed-bar").get_attribute("data-count") == "1"
    # The browser logs the refused connection: expected here, not a script error.
    refused = driver.get_log("browser")
    assert refused and all("ERR_CONNECTION_REFUSED" in entry["message"] for entry in refused)
