"""The browser every browser test shares (one per test module), checked after each
test: it asked nothing of another host and logged no script or CSP error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver

from tests.browser.helpers import (
    off_loopback,
    requested_urls,
    require_browser,
    script_errors,
    start_chromium,
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    require_browser()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")  # Selenium Manager never downloads anything
        driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def driver(browser: WebDriver) -> Iterator[WebDriver]:
    """The shared browser, checked after each test: loopback only, no console errors."""
    browser.get_log("performance")
    browser.get_log("browser")
    yield browser
    if browser.current_url.startswith("http"):
        browser.execute_script("sessionStorage.clear(); localStorage.clear();")
    strays = off_loopback(requested_urls(browser))
    errors = script_errors(browser)
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    assert strays == [], f"the page asked another host: {strays}"
    assert errors == [], f"the console logged errors: {errors}"
