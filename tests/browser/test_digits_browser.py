"""The digits page in real headless Chromium: draw a digit with the mouse, attack it, look at it.

What only a browser shows: the canvas component takes mouse strokes, the drawing reaches Python,
and the three panels appear side by side at the same size. Screenshots go to test-artifacts/.

Needs Debian's /usr/bin/chromium (never `playwright install`). Without it the test is skipped,
unless ADVPLAY_REQUIRE_BROWSER=1 (CI), where a missing browser is a failure.

This module starts its own server (fixture `digits_server`) the way a shared harness in
tests/browser/conftest.py would: free port, `streamlit run app.py` bound to 127.0.0.1, health
check, and the process stopped by its PID at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
STARTUP_SECONDS = 90
ACTION_MS = 30_000
COMPUTE_MS = 180_000  # the first run loads three models and attacks them on a busy 2-core box

pytestmark = pytest.mark.browser


def _require_browser() -> None:
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def digits_server() -> Iterator[str]:
    """The app served on a free local port; yields its base URL and stops it by PID."""
    _require_browser()
    port = _free_port()
    log_path = Path(tempfile.mkdtemp(prefix="streamlit-digits-")) / "streamlit.log"
    log = log_path.open("w")  # closed in the finally below, after the server has stopped
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start; see {log_path}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.fixture
def page(digits_server: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="chromium-digits-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                viewport={"width": 1400, "height": 1100},
            )
            try:
                tab = context.new_page()
                tab.set_default_timeout(ACTION_MS)
                # Until some session has run app.py's st.navigation, Streamlit serves a pages/
                # folder the old way (every file a page, app.py's layout skipped): open the
                # entry page first, as a visitor arriving at / would.
                tab.goto(digits_server + "/")
                tab.get_by_test_id("stSidebarNav").wait_for(timeout=COMPUTE_MS)
                yield tab
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _wait_idle(tab: object) -> None:
    """Wait until the script run is over (the 'running' indicator is gone)."""
    tab.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
        timeout=COMPUTE_MS,
    )


def _panel_title(tab: object, which: str) -> str:
    text = tab.locator(".st-key-digits-panels, [data-testid='stPlotlyChart']").first.inner_text()
    match = re.search(rf"{which} → (\d)", text)
    assert match, text
    return match.group(1)


def test_draw_a_digit_attack_it_and_screenshot_the_panels(page: object,
                                                           digits_server: str) -> None:
    tab = page
    tab.goto(digits_server + "/digits?model=mnist-cnn&attack=fgsm&eps=0.2&index=0")
    tab.get_by_test_id("stPlotlyChart").first.wait_for(timeout=COMPUTE_MS)
    tab.get_by_role("radiogroup", name="Digit").get_by_role("radio", name="Draw").click()

    canvas = tab.locator("canvas.upper-canvas")
    canvas.wait_for()
    box = canvas.bounding_box()
    assert box and box["width"] >= 200

    def at(fx: float, fy: float) -> tuple[float, float]:
        return box["x"] + fx * box["width"], box["y"] + fy * box["height"]

    # A 7, drawn as a person would: the bar left to right, then the stem down to the left.
    tab.mouse.move(*at(0.25, 0.22))
    tab.mouse.down()
    for k in range(1, 21):
        tab.mouse.move(*at(0.25 + 0.5 * k / 20, 0.22))
    for k in range(1, 31):
        tab.mouse.move(*at(0.75 - 0.3 * k / 30, 0.22 + 0.6 * k / 30))
    tab.mouse.up()

    # The preview appears only once the drawing has reached Python and been preprocessed; the
    # panels above it then belong to the drawn digit, not to the test digit shown before.
    tab.get_by_text("What the model sees").wait_for(timeout=COMPUTE_MS)
    _wait_idle(tab)
    panels = tab.locator("[data-testid='stPlotlyChart']").first

    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / "digits-drawn-page.png"), full_page=True)
    panels.scroll_into_view_if_needed()
    panels.screenshot(path=str(ARTIFACTS / "digits-drawn-panels.png"))

    # Three panels, side by side, the same size (Plotly's drag rectangle is each plot area).
    boxes = [b for b in (r.bounding_box() for r in panels.locator("rect.nsewdrag").all()) if b]
    assert len(boxes) == 3
    assert max(b["width"] for b in boxes) - min(b["width"] for b in boxes) < 1.5
    assert max(b["height"] for b in boxes) - min(b["height"] for b in boxes) < 1.5
    assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"]
    assert boxes[0]["width"] >= 150  # readable: at least ~5 screen pixels per digit pixel

    # The drawing is read as the 7 it is, and FGSM at ε = 0.2 is reported on the page.
    assert _panel_title(tab, "Original") == "7"
    main = tab.locator("[data-testid='stMain']").inner_text()
    assert "FGSM at ε = 0.200 (51.0/255)" in main
