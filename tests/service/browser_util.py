"""Helpers of the real-browser test: the `facenet serve` process on a free loopback port, headless
Chromium (Debian's package) under Selenium, waits, screenshots and the browser console."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENS = REPO / "out" / "browser-screens"
KEY_RE = re.compile(r"\bfn_[A-Za-z0-9_-]{20,}")
WAIT_S = 20.0


def need_browser() -> None:
    """Skip (fail under CI=true) unless Chromium, chromedriver and Selenium are all here."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (requirements-dev.txt)")
    if missing:
        msg = "real-browser test needs " + ", ".join(missing) + " (apt-get install -y chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but " + msg, pytrace=False)
        pytest.skip(msg)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running `facenet serve`: its base URL, an admin key, the process and its log file."""

    url: str
    key: str
    proc: subprocess.Popen
    log: Path

    def api(self, method: str, path: str, body: dict | None = None) -> Any:
        """One JSON call to the API with the admin key (for checks behind the page's back)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"null")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(tmp: Path, *extra: str) -> Server:
    """`facenet keys create --scope admin`, then `facenet serve --gallery tmp/gallery.db --port P
    *extra`, both with FACENET_HOME=tmp/home; waits for /health."""
    env = {**os.environ, "FACENET_HOME": str(tmp / "home"), "OMP_NUM_THREADS": "1"}
    cli = [sys.executable, "-m", "facenet"]
    made = subprocess.run([*cli, "keys", "create", "--scope", "admin", "--name", "browser-test"],
                          env=env, capture_output=True, text=True, timeout=60)
    found = KEY_RE.search(made.stdout + made.stderr)
    if made.returncode != 0 or not found:
        raise RuntimeError(f"facenet keys create failed ({made.returncode}): {made.stdout}{made.stderr}")
    port = free_port()
    log = tmp / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([*cli, "serve", "--gallery", str(tmp / "gallery.db"), "--host", "127.0.0.1", "--port", str(port), *extra],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", found.group(0), proc, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"facenet serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(server.url + "/health", timeout=2) as r:
                if r.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"facenet serve did not answer /health in 60 s:\n{log.read_text()}")


def start_chromium():
    """Headless Chromium from /usr/bin under chromedriver; as root it needs --no-sandbox."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1100",
                "--disable-extensions", "--no-first-run", "--disable-background-networking"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    return driver


def wait_for(driver: Any, condition: Callable[[Any], Any], what: str, timeout: float = WAIT_S) -> Any:
    """Wait until condition(driver) is truthy; on time-out fail with `what` and the page's error banner."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)
    except TimeoutException:
        banner = driver.execute_script("const e = document.getElementById('error'); return e && !e.hidden ? e.textContent : '';")
        shot(driver, "timeout-" + re.sub(r"\W+", "-", what)[:40])
        pytest.fail(f"timed out waiting for {what}" + (f"; the page shows: {banner}" if banner else ""), pytrace=False)


def shot(driver: Any, name: str) -> Path:
    """Save a full-window screenshot as out/browser-screens/<name>.png (a test artefact)."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def console_errors(driver: Any) -> list[str]:
    """The browser console's errors, less failed requests (the API's 4xx answers show there too)."""
    logs = driver.get_log("browser")
    return [e["message"] for e in logs if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]]
