"""A hostile visitor, in real headless Chromium against a real server (pages/guard.py at work).

- A `clear_cache` message on the page's own websocket changes nothing: the caches keep their
  bytes (read from /_stcore/metrics) and a revisit stays cheap.
- Closing a tab in the middle of the most expensive transfer matrix stops the server's work
  within seconds (the server process's CPU time, read from /proc), and so does navigating away.
- An uploaded file leaves the server's memory once the digit is taken from it; a flood of PUTs
  from one tab keeps two files; closing the tab frees them. A hostile file name shows as plain,
  short text.
- The server restarts under an open tab, and the tab comes back to its scene by itself.

The module gets its own server (the CPU measurements need a server nobody else uses), bound
to 127.0.0.1 and stopped by its PID; the restart test, the last, restarts that one. Waits are on conditions (a log line, a message, a CPU
window), never fixed sleeps.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import require_browser
from harness import RunLog, free_port, start_server, stop, wait_healthy

pytestmark = pytest.mark.browser

COMPUTE_S = 180
STOPPED_WITHIN_S = 15  # "within a few seconds"; before the fix the work went on for minutes
IDLE_CORES = 0.15  # CPU-s per second of a server doing nothing but heartbeats
BUSY_CORES = 0.5
# streamlit/web/server/starlette/starlette_routes.py: _METRICS_EXPENSIVE_STATS_TTL_SECONDS = 5.
METRICS_TTL_S = 5.5
# The most expensive transfer matrix a URL can ask for: PGD-100 on 1,000 digits, three models.
TRANSFER = "/robustness?section=transfer&attack=pgd&eps=0.3&steps=100&n=1000"


class Server:
    """`streamlit run app.py` on 127.0.0.1:port, with what these tests read from outside it."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.dir = Path(tempfile.mkdtemp(prefix="advplay-hostile-"))
        self.proc: Any = None
        self.starts = 0
        self.fetched = float("-inf")

    @property
    def log(self) -> Path:
        return self.dir / f"streamlit-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        self.proc = start_server(self.port, self.log)
        wait_healthy(self.base, self.proc, self.log)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None

    def cpu_s(self) -> float:
        """CPU seconds the server process has used (all its threads)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def cores(self, tab: Any, window_s: float = 1.0) -> float:
        """CPU-s per second over the next `window_s` (the tab's events pumped meanwhile)."""
        c0, t0 = self.cpu_s(), time.perf_counter()
        tab.wait_for_timeout(window_s * 1000) if tab is not None else time.sleep(window_s)
        return (self.cpu_s() - c0) / (time.perf_counter() - t0)

    def metrics(self) -> dict[tuple[str, str], int]:
        """/_stcore/metrics' cache_memory_bytes: (cache_type, cache) -> bytes, as of now.

        Streamlit computes that family at most once per METRICS_TTL_S and serves the stored
        result in between; only this test reads the metrics, so waiting out the TTL since its
        own last read guarantees a fresh computation.
        """
        wait = self.fetched + METRICS_TTL_S - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        with urllib.request.urlopen(self.base + "/_stcore/metrics", timeout=10) as r:
            text = r.read().decode()
        self.fetched = time.monotonic()
        found = re.findall(r'^cache_memory_bytes\{cache_type="([^"]*)",cache="([^"]*)"\} (\d+)',
                           text, re.M)
        return {(kind, name): int(size) for kind, name, size in found}

    def upload_bytes(self) -> int:
        return sum(v for (kind, _), v in self.metrics().items() if kind == "UploadedFileManager")

    def cache_bytes(self) -> dict[tuple[str, str], int]:
        return {k: v for k, v in self.metrics().items() if k[0].startswith("st_cache")}


def wait_until(condition: Callable[[], Any], timeout_s: float, what: str,
               pump: Any = None) -> Any:
    """Poll `condition` until it returns something truthy (pumping a tab's events meanwhile)."""
    deadline = time.perf_counter() + timeout_s
    while not (value := condition()):
        if time.perf_counter() > deadline:
            raise TimeoutError(f"not within {timeout_s} s: {what}")
        pump.wait_for_timeout(100) if pump is not None else time.sleep(0.1)
    return value


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    require_browser()
    s = Server()
    s.start()
    try:
        yield s
    finally:
        s.stop()


def open_tab(browser: Any, base: str, path: str = "/",
             route: Callable[[Any], None] | None = None) -> tuple[Any, Any]:
    """A fresh context and tab on `path` (through / first, as conftest's page fixture explains),
    its RunLog attached before the websocket opens; returns (context, tab)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(COMPUTE_S * 1000)
    if route is not None:
        tab.route_web_socket(re.compile(r".*/_stcore/stream$"), route)
    log = RunLog.of(tab)
    tab.goto(base + "/")
    tab.get_by_test_id("stSidebarNav").get_by_text("Digits", exact=True).wait_for()
    if path != "/":
        t = time.perf_counter()
        tab.goto(base + path)
        log.settle(after=t, timeout_s=COMPUTE_S)
    else:
        log.settle(timeout_s=COMPUTE_S)
    return context, tab


# --- one visitor must not act for everyone -------------------------------------------------------


def test_a_clear_cache_message_changes_nothing(server: Server, browser: Any) -> None:
    sockets: list[Any] = []

    def route(ws: Any) -> None:  # pass everything through, and keep the server side to send on
        sockets.append(ws.connect_to_server())

    scene = "/boundary?dataset=moons&n=300&noise=0.25&seed=3&model=mlp&width=48&depth=3"
    c0 = server.cpu_s()
    context, tab = open_tab(browser, server.base, scene, route=route)
    first_cost = server.cpu_s() - c0
    # The scene's caches, once they hold something (on a loaded machine the first metrics
    # read can come before the sizes are counted).
    before = wait_until(lambda: (b := server.cache_bytes()) and sum(b.values()) > 0 and b, 60,
                        "the scene's caches to show in the metrics", pump=tab)
    try:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        sockets[-1].send(BackMsg(clear_cache=True).SerializeToString())
        wait_until(lambda: "ignored a clear_cache request" in server.log.read_text(), 30,
                   "the server to log the refused clear_cache", pump=tab)
        assert server.cache_bytes() == before
    finally:
        context.close()
    # Another visitor opening the same scene finds it cached, as before the message.
    c0 = server.cpu_s()
    context, _ = open_tab(browser, server.base, scene)
    context.close()
    again = server.cpu_s() - c0
    print(f"scene: first visit {first_cost:.1f} CPU-s, after clear_cache {again:.1f} CPU-s")
    assert again < first_cost / 2


def start_transfer(browser: Any, server: Server) -> tuple[Any, Any]:
    """A tab computing the most expensive transfer matrix, once the server is busy with it."""
    context, tab = open_tab(browser, server.base)
    tab.goto(server.base + TRANSFER)
    tab.get_by_text(re.compile(r"Crafting PGD digits on")).wait_for()
    wait_until(lambda: server.cores(tab) > BUSY_CORES, 60, "the server to compute", pump=tab)
    return context, tab


def seconds_until_idle(server: Server, since: float) -> float:
    wait_until(lambda: server.cores(None) < IDLE_CORES, 120, "the server to go idle")
    return time.perf_counter() - since


def test_closing_a_tab_stops_its_work_within_seconds(server: Server, browser: Any) -> None:
    context, _ = start_transfer(browser, server)
    closed = time.perf_counter()
    context.close()
    took = seconds_until_idle(server, closed)
    print(f"tab closed mid-transfer: server idle {took:.1f} s later")
    assert took < STOPPED_WITHIN_S


def test_navigating_away_stops_the_old_page_s_work(server: Server, browser: Any) -> None:
    """Same session, new inputs: the run that replaces the transfer matrix starts at once,
    instead of after the matrix (minutes), and nothing computes once it has finished."""
    context, tab = start_transfer(browser, server)
    try:
        log = RunLog.of(tab)
        clicked = time.perf_counter()
        tab.get_by_test_id("stSidebarNav").get_by_text("How it works", exact=True).click()
        log.settle(after=clicked, timeout_s=90)
        shown = time.perf_counter() - clicked
        took = seconds_until_idle(server, time.perf_counter())
        print(f"navigated away mid-transfer: new page done in {shown:.1f} s, idle {took:.1f} s "
              "later")
        assert took < STOPPED_WITHIN_S
    finally:
        context.close()


# --- uploads -------------------------------------------------------------------------------------


def seven_png(side: int = 900, noise: int = 12) -> bytes:
    """A dark 7 on light, noisy paper: a real digit whose PNG is about a megabyte."""
    import numpy as np
    from PIL import Image, ImageDraw

    img = Image.new("L", (side, side), 235)
    s = side / 280
    ImageDraw.Draw(img).line([(60 * s, 50 * s), (200 * s, 50 * s), (110 * s, 240 * s)],
                             fill=20, width=round(22 * s))
    rng = np.random.default_rng(0)
    pixels = np.asarray(img, dtype=np.int16) + rng.integers(-noise, noise + 1, (side, side))
    buf = io.BytesIO()
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


HOSTILE_NAME = ("**bold** [Login](//e.vil) $x^2$ ![](//e.vil/i.png) <b>b</b> :red[red] "
                + "x" * 200 + ".png")


def session_id(tab: Any) -> str:
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    for _, kind, raw in reversed(RunLog.of(tab).events):
        if kind == "new_session":
            return ForwardMsg.FromString(raw).new_session.initialize.session_id
    raise AssertionError("no new_session message seen")


def test_uploads_are_dropped_once_read_bounded_per_tab_and_freed_on_close(
        server: Server, browser: Any) -> None:
    context, tab = open_tab(browser, server.base, "/digits?model=mnist-linear&attack=fgsm&eps=0.1")
    log = RunLog.of(tab)
    try:
        t = time.perf_counter()
        tab.get_by_role("radiogroup", name="Digit").get_by_role("radio", name="Upload").click()
        log.settle(after=t)
        data = seven_png()
        t = time.perf_counter()
        tab.locator("input[type='file']").set_input_files(
            {"name": HOSTILE_NAME, "mimeType": "image/png", "buffer": data})
        log.settle(after=t)
        main = tab.get_by_test_id("stMain")
        # The digit was taken and the file dropped; the name is plain text, cut short.
        main.locator(".st-key-digits-panels").wait_for()
        assert server.upload_bytes() == 0
        shown = main.get_by_test_id("stText").filter(has_text="File:").inner_text()
        assert shown.startswith("File: **bold** [Login](//e.vil) $x^2$") and len(shown) <= 66
        assert main.locator("a[href*='e.vil'], img[src*='e.vil'], .katex").count() == 0
        assert main.locator("strong", has_text="bold").count() == 0
        # A rerun (a slider step) still has the digit, though the file is gone.
        t = time.perf_counter()
        slider = tab.locator("[data-testid='stSlider'] input[type='range']").first
        slider.focus()
        tab.keyboard.press("ArrowRight")
        log.settle(after=t)
        assert main.locator(".st-key-digits-panels").count() == 1
        assert "Upload a picture" not in main.inner_text()

        # A flood of PUTs from this tab, bypassing the page: 20 files of ~1 MB.
        sid = session_id(tab)
        xsrf = next(c["value"] for c in context.cookies() if c["name"] == "_streamlit_xsrf")
        for _ in range(20):
            r = context.request.put(
                f"{server.base}/_stcore/upload_file/{sid}/{uuid.uuid4()}",
                multipart={"file": {"name": "f.png", "mimeType": "image/png", "buffer": data}},
                headers={"X-Xsrftoken": xsrf})
            assert r.ok, r.status
        held = server.upload_bytes()
        print(f"after 20 PUTs of {len(data) / 1e6:.2f} MB: {held / 1e6:.2f} MB held")
        assert held == 2 * len(data)  # the newest two
    finally:
        context.close()
    wait_until(lambda: server.upload_bytes() == 0, 30, "the closed tab's uploads to be freed")


# --- a server restart under an open tab ----------------------------------------------------------


def test_a_tab_comes_back_to_its_scene_after_a_server_restart(server: Server,
                                                              browser: Any) -> None:
    """The module's server, last: it is stopped and started again under the open tab (a new
    process on the same port that has never seen the tab)."""
    s = server
    scene = "/digits?model=mnist-linear&attack=fgsm&eps=0.123&steps=10&index=7"
    context = None
    try:
        context, tab = open_tab(browser, s.base, scene)
        log = RunLog.of(tab)
        s.stop()
        down = time.perf_counter()
        # The tab notices: its websocket closes and its health pings start failing.
        tab.wait_for_event("console", lambda m: "not responding" in m.text
                           or "still running" in m.text, timeout=60_000)
        s.start()  # the same port, a new process that has never seen this tab
        log.wait_finished(after=down, timeout_s=COMPUTE_S)
        log.settle(after=down, timeout_s=COMPUTE_S)
        back = time.perf_counter() - down
        main = tab.get_by_test_id("stMain")
        assert "Test digit #7" in main.inner_text()
        assert "0.123" in tab.locator("[data-testid='stSlider']").first.inner_text()
        assert main.locator(".st-key-digits-panels").count() == 1
        assert "eps=0.123" in tab.url
        print(f"server restarted under the tab: scene back {back:.1f} s after the outage began")
    finally:
        if context is not None:
            context.close()
