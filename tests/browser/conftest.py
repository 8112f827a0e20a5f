"""Shared harness for the browser tests: one Streamlit server per session, headless Chromium.

- `app_server`: `streamlit run app.py` on a free port bound to 127.0.0.1, waited on through
  /_stcore/health; yields the base URL and stops the process by its PID at the end.
- `browser`: a Playwright Chromium (Debian's /usr/bin/chromium; never `playwright install`).

Without /usr/bin/chromium or the playwright package the tests are skipped with the reason,
unless ADVPLAY_REQUIRE_BROWSER=1 (CI), where that is a failure.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
STARTUP_SECONDS = 90


def require_browser() -> None:
    """Skip (or, with ADVPLAY_REQUIRE_BROWSER=1, fail) when Chromium or playwright is missing."""
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package is not installed")
    if missing:
        reason = "; ".join(missing)
        if os.environ.get("ADVPLAY_REQUIRE_BROWSER") == "1":
            pytest.fail(f"ADVPLAY_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, log_path: Path) -> subprocess.Popen:
    """`streamlit run app.py` on 127.0.0.1:port, its output in log_path."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT,
    )


def wait_healthy(base: str, proc: subprocess.Popen, log_path: Path,
                 seconds: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"streamlit did not start; see {log_path}")
        time.sleep(0.3)


def stop(proc: subprocess.Popen) -> None:
    """Stop the server we started, by its PID."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    if proc.stdout:
        proc.stdout.close()


@pytest.fixture(scope="session")
def app_server() -> Iterator[str]:
    """The app served on a free local port; yields its base URL ("http://127.0.0.1:PORT")."""
    require_browser()
    port = free_port()
    log_path = Path(tempfile.mkdtemp(prefix="streamlit-app-")) / "streamlit.log"
    proc = start_server(port, log_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, log_path)
        yield base
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium (playwright Browser), shared by the session's tests."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()
