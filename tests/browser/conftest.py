"""Fixtures for the browser tests: one Streamlit server per session, headless Chromium.

- `app_server`: `streamlit run app.py` on a free port bound to 127.0.0.1, waited on through
  /_stcore/health, its app.py run once (harness.navigate_once: direct links then get the real
  pages, so tests need not visit / first); yields the base URL and stops the process by its PID
  at the end.
- `browser`: a Playwright Chromium (Debian's /usr/bin/chromium; never `playwright install`).

The harness itself (server, Chromium, RunLog, PaintClock) is harness.py, which the benchmarks
use too. Without /usr/bin/chromium or the playwright package the tests are skipped with the
reason, unless ADVPLAY_REQUIRE_BROWSER=1 (CI), where that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    NAVIGATED,
    ROOT,
    STARTUP_SECONDS,
    navigate_once,
    serve_app,
    stop,
)

ARTIFACTS = ROOT / "test-artifacts"


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


@pytest.fixture(scope="session")
def app_server() -> Iterator[str]:
    """The app served on a free local port; yields its base URL ("http://127.0.0.1:PORT")."""
    require_browser()
    proc, base, _ = serve_app("streamlit-app-", STARTUP_SECONDS)
    try:
        navigate_once(base)
        yield base
    finally:
        NAVIGATED.discard(base)
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
