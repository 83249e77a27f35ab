"""A vidqa server on 127.0.0.1 for tests, and Debian's headless Chromium driven by Selenium.

The browser is the system's (`apt-get install chromium chromium-driver`, as .ci/run does);
nothing is downloaded: Selenium is given the driver's path, so its manager never runs. Under CI
a missing browser is a failure, elsewhere a skip.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from helpers.extras import need

CHROMIUM = Path(os.environ.get("VIDQA_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("VIDQA_TEST_CHROMEDRIVER", "/usr/bin/chromedriver"))
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"  # screenshots (git-ignored)


def served_folder(root: Path, videos: dict[str, Path]) -> Path:
    """A folder holding copies of `videos` under their new names (copies, not links: a link
    out of a served folder is refused)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, source in videos.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            shutil.copyfile(source, target)
    return root


@contextmanager
def running(service, **options):
    """The server of `service` in a thread on a free loopback port; yields it (`.url`)."""
    from vidqa.serve.app import Server, create_app

    server = Server(create_app(service, **options))
    try:
        yield server
    finally:
        server.close()


def _need(path: Path, what: str) -> None:
    if path.exists():
        return
    message = f"{what} not found at {path} (apt-get install chromium chromium-driver)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def chromium(width: int = 1400, height: int = 1000):
    """A headless Chromium (Debian's) under Selenium, with the browser log kept."""
    need("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    _need(CHROMIUM, "Chromium")
    _need(CHROMEDRIVER, "ChromeDriver")
    profile = tempfile.mkdtemp(prefix="vidqa-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # The flags of this machine's probe: no sandbox as root, no GPU, and none of Chromium's
    # own connections to Google (refused on a closed network).
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--mute-audio", f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver) -> list[dict]:
    """The browser's SEVERE log entries so far (console errors, failed loads)."""
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def screenshot(driver, name: str) -> Path:
    """Save a screenshot as a test artifact (tests/artifacts/NAME.png)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def wait_for(driver, script: str, timeout_s: float = 20.0, what: str = ""):
    """Poll a JavaScript expression until it is truthy; its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout_s, poll_frequency=0.1).until(
        lambda d: d.execute_script(f"return {script}"), message=what or script)
