"""Headless Chromium for the browser tests, and what they measure on the page.

Chromium starts only with the flags below: headless, no background networking, and
every host name but loopback unresolvable, so that a page can reach nothing else."""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
WAIT = 10  # seconds: the longest any state may take to show up
LOOPBACK = "127.0.0.1"
# The page's own data and the browser's built-in pages: no packet leaves for these.
INTERNAL_SCHEMES = ("data", "about", "blob", "chrome", "chrome-untrusted", "devtools")
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")
CHROME_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-client-side-phishing-detection",
    "--disable-domain-reliability",
    "--no-default-browser-check",
    "--no-proxy-server",
    # Belt and braces: no host name but loopback resolves, whatever a page asks for.
    f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {LOOPBACK}",
    "--window-size=1280,1000",
)


def require_browser() -> None:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        needed = ", ".join(missing)
        message = f"browser tests need {needed} (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def start_chromium(profile: Path, *, javascript: bool = True) -> WebDriver:
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in CHROME_ARGS:
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    if not javascript:
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2}
        )
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def requested_urls(driver: WebDriver) -> list[str]:
    """Every URL the browser asked for since the last call (performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def off_loopback(urls: list[str]) -> list[str]:
    """The URLs that are not on 127.0.0.1 (the browser's own pages and data: aside)."""
    strays = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in INTERNAL_SCHEMES:
            continue
        if parts.scheme not in ("http", "https", "ws", "wss") or parts.hostname != LOOPBACK:
            strays.append(url)
    return strays


def script_errors(driver: WebDriver) -> list[str]:
    """Console errors since the last call: script errors, CSP refusals. A fetch that
    the server answers with 4xx/5xx on purpose (a refused note) is not one."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE"
        and not (
            entry.get("source") == "network"
            and "the server responded with a status of" in entry["message"]
        )
    ]


def wait(driver: WebDriver, until: Callable[[WebDriver], Any], timeout: float = WAIT) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(until)


def open_card(driver: WebDriver, url: str) -> None:
    """Load the card and wait for its script: it counts this page load in the chart."""
    driver.get(url)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#replica-chart [data-replica]"))


def row(driver: WebDriver, key: str) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, f'[data-row="{key}"]')


def note_texts(driver: WebDriver) -> list[str]:
    # In one script call: the list may be redrawn between two WebDriver calls.
    texts: list[str] = driver.execute_script(
        "return Array.from(document.querySelectorAll('#notes .note-text'), (e) => e.textContent);"
    )
    return texts


def note_message(driver: WebDriver) -> str:
    text: str = driver.find_element(By.ID, "note-message").text
    return text


def type_note(driver: WebDriver, text: str, *, submit: str = "click") -> None:
    field = driver.find_element(By.ID, "note-input")
    field.clear()
    field.send_keys(text)
    if submit == "enter":
        field.send_keys(Keys.ENTER)
    else:
        driver.find_element(By.ID, "add-note").click()


def chart_counts(driver: WebDriver) -> dict[str, int]:
    counts: dict[str, int] = driver.execute_script(
        "const counts = {};"
        "for (const bar of document.querySelectorAll('#replica-chart [data-replica]'))"
        "  counts[bar.dataset.replica] = Number(bar.dataset.count);"
        "return counts;"
    )
    return counts


def mark_page(driver: WebDriver) -> None:
    """A marker that a reload would wipe out: proves a note went in without one."""
    driver.execute_script("window.__awsmeSamePage = true;")


def same_page(driver: WebDriver) -> bool:
    return bool(driver.execute_script("return window.__awsmeSamePage === true;"))


def settled(driver: WebDriver) -> bool:
    """No CSS transition or animation running (bars grown, flashes faded)."""
    return bool(driver.execute_script("return document.getAnimations().length === 0;"))


def save_screenshot(driver: WebDriver, name: str) -> Path:
    """The whole page, not just the viewport."""
    wait(driver, settled)
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        },
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def unique(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:8]}"
