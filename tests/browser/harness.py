"""The browser harness, shared by the browser tests (via conftest.py) and the benchmarks.

- `start_server` / `wait_healthy` / `stop`: `streamlit run app.py` on a free port bound to
  127.0.0.1, waited on through /_stcore/health, stopped by its PID.
- `CHROMIUM`, `CHROMIUM_ARGS`: Debian's /usr/bin/chromium for Playwright (never
  `playwright install`, which cannot download here).
- `served_tab`: both at once for a script (the benchmarks): the app and a Chromium tab.
- `RunLog`: the app's websocket messages, decoded: when a script run finished.
- `wait_rendered`: the browser has drawn what the server sent (no placeholder, DOM quiet).
- `open_page`: / first (unless the server is in `NAVIGATED`), then a page or scene, waited on
  until it is drawn.
- `navigate_once`: run app.py once on a fresh server over the websocket, so that direct links
  get the real pages; the server's base goes into `NAVIGATED`.
- `PaintClock`: key press → the frame that shows a text, timed inside the page.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
STARTUP_SECONDS = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, log_path: Path, env: dict[str, str] | None = None,
                 root: Path = ROOT) -> subprocess.Popen:
    """`streamlit run app.py` on 127.0.0.1:port, its output in log_path; `env` adds to the
    environment (ADVPLAY_CHART=native, say); `root`: the app's folder (another commit's copy,
    for a benchmark's before/after)."""
    env = {**os.environ, "PYTHONPATH": str(root), **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=root, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT,
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


def serve_app(log_prefix: str, seconds: float = 120, env: dict[str, str] | None = None,
              root: Path = ROOT) -> tuple[subprocess.Popen, str, Path]:
    """`streamlit run app.py` (from `root`, with `env` added) on a free port of 127.0.0.1,
    healthy: (process, base URL, log). The caller stops it (`stop`)."""
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix=log_prefix)) / "streamlit.log"
    proc = start_server(port, log, env, root)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, log, seconds=seconds)
    except RuntimeError:
        stop(proc)
        raise
    return proc, base, log


@contextmanager
def served_tab(*, width: int = 1400, height: int = 1000, log_prefix: str = "bench-",
               env: dict[str, str] | None = None,
               root: Path = ROOT) -> Iterator[tuple[str, Any]]:
    """The app (from `root`) on a free local port and a Chromium tab; yields (base URL, tab),
    stops both.

    The tab has opened / once, so app.py's st.navigation has run in the server: until then
    Streamlit serves a pages/ folder the old way (see the browser tests' page fixture).
    """
    from playwright.sync_api import sync_playwright

    proc, base, _ = serve_app(log_prefix, STARTUP_SECONDS, env, root)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                tab = browser.new_page(viewport={"width": width, "height": height})
                tab.goto(base + "/")
                # "Digits", capitalised, is st.navigation's menu; the old-style one says "digits".
                tab.get_by_test_id("stSidebarNav").get_by_text("Digits", exact=True).wait_for(
                    timeout=120_000)
                yield base, tab
            finally:
                browser.close()
    finally:
        stop(proc)


_RUN_LOGS: weakref.WeakKeyDictionary[Any, RunLog] = weakref.WeakKeyDictionary()
# Messages that neither start nor end a run: heartbeats both ways, and the "running: no" status
# the server sends right after script_finished.
NEUTRAL = {"heartbeat", "heartbeat_ack", "session_status_changed"}


class RunLog:
    """The websocket traffic of one Playwright page, decoded: what each script run sent and when
    it finished (Streamlit's `script_finished` message).

    The status widget is not a reliable "run finished" signal: it only appears once a run has
    lasted a while, so a short fragment run may still be computing after the widget is gone.
    Events carry `time.perf_counter()` stamps and arrive while Playwright waits (sync API), so
    the waits pump them with page.wait_for_timeout. Attach it before the page opens the app
    (`RunLog.of(page)`): it only sees websockets opened after it.
    """

    def __init__(self, page: Any) -> None:
        self.page = page
        # (time, kind, raw): kind is "sent" (a request from the browser), "heartbeat", or the
        # type of a message from the server ("delta", "script_finished", "heartbeat_ack", ...).
        self.events: list[tuple[float, str, bytes]] = []
        page.on("websocket", self._attach)

    @classmethod
    def of(cls, page: Any) -> RunLog:
        """The page's RunLog, made on first use (so helpers can find the fixture's)."""
        if page not in _RUN_LOGS:
            _RUN_LOGS[page] = cls(page)
        return _RUN_LOGS[page]

    def _attach(self, ws: Any) -> None:
        ws.on("framesent", self._sent)
        ws.on("framereceived", self._received)

    def _sent(self, payload: bytes | str) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        now = time.perf_counter()
        raw = payload if isinstance(payload, bytes) else b""
        heartbeat = bool(raw) and BackMsg.FromString(raw).WhichOneof("type") == "app_heartbeat"
        self.events.append((now, "heartbeat" if heartbeat else "sent", raw))

    def _received(self, payload: bytes | str) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        now = time.perf_counter()
        if isinstance(payload, bytes):
            kind = ForwardMsg.FromString(payload).WhichOneof("type") or "unknown"
            self.events.append((now, kind, payload))

    def first(self, kind: str, after: float, containing: bytes = b"") -> float | None:
        """The time of the first `kind` message after `after` whose bytes contain `containing`."""
        return next((t for t, k, raw in self.events
                     if k == kind and t > after and containing in raw), None)

    def wait_finished(self, after: float, timeout_s: float = 300) -> float:
        """Wait until a run that started after `after` has finished; its `script_finished` time."""
        deadline = time.perf_counter() + timeout_s
        while (done := self.first("script_finished", after)) is None:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"no script_finished within {timeout_s} s")
            self.page.wait_for_timeout(10)
        return done

    def settle(self, after: float | None = None, quiet_s: float = 0.5,
               timeout_s: float = 300) -> None:
        """Wait until the app is idle: the last exchange (NEUTRAL aside) is a finished run,
        and nothing has moved for `quiet_s`. A request the browser has sent but the server has
        not answered yet counts as busy, so this also holds right after a click. After a
        navigation pass `after` (a perf_counter time before it): the old page's last run does
        not count, only one that finished after it."""
        deadline = time.perf_counter() + timeout_s
        while True:
            last = next(((t, k) for t, k, _ in reversed(self.events) if k not in NEUTRAL),
                        None)
            if (last is not None and last[1] == "script_finished"
                    and (after is None or last[0] > after)
                    and time.perf_counter() - last[0] >= quiet_s):
                return
            if time.perf_counter() > deadline:
                raise TimeoutError(f"the app was still busy after {timeout_s} s")
            self.page.wait_for_timeout(50)


RENDERED_JS = """([quietMs, timeoutMs]) => new Promise(resolve => {
    // Done when the page has not changed for quietMs and nothing is still a placeholder: no
    // skeleton, no stale element from the last run, every Plotly chart drawn.
    let last = performance.now();
    const observer = new MutationObserver(() => { last = performance.now(); });
    observer.observe(document.body, {subtree: true, childList: true, attributes: true,
                                     characterData: true});
    const pending = () =>
        document.querySelector('[data-testid="stSkeleton"], [data-stale="true"]') !== null
        || [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
               .some(c => !c.querySelector('.main-svg'));
    const start = performance.now();
    const check = () => {
        const done = !pending() && performance.now() - last >= quietMs;
        if (done || performance.now() - start > timeoutMs) {
            observer.disconnect();
            resolve(done);
        } else {
            setTimeout(check, 50);
        }
    };
    check();
})"""


def wait_rendered(page: Any, quiet_ms: int = 700, timeout_ms: float = 300_000) -> None:
    """Wait until the browser has drawn what the server sent: after `RunLog.settle` the server
    is done, but on a loaded machine the browser may still be turning its messages into
    elements (a second visit, all cached, is over on the server before the page is drawn)."""
    if not page.evaluate(RENDERED_JS, [quiet_ms, timeout_ms]):
        raise TimeoutError(f"the page was still drawing after {timeout_ms / 1000:.0f} s")


# Servers (by base URL) on which a session has run app.py's st.navigation: from then on a direct
# link gets the real pages. Only `navigate_once` adds to it, for a server that is never restarted
# under the same address (conftest's app_server); a restarted server serves pages/ the old way
# again, so a test that restarts its server must not be here.
NAVIGATED: set[str] = set()


def navigate_once(base: str, timeout_s: float = STARTUP_SECONDS) -> None:
    """Run app.py (the home page) once in a new session on the server at `base`, over the
    websocket as a tab would (no browser): until a session has run app.py's st.navigation, a
    fresh server serves pages/ the old way (every file a page, app.py skipped). Marks `base` in
    NAVIGATED, so that `open_page` goes to its page directly."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import wsclient
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    session = wsclient.Session(base.replace("http://", "ws://") + "/_stcore/stream")
    try:
        with warnings.catch_warnings():
            # websockets' note that a connection used outside `with` is deprecated (wsclient's).
            warnings.simplefilter("ignore", DeprecationWarning)
            finished = session.open("", "", timeout=timeout_s)
    finally:
        session.close()
    if not finished:
        raise RuntimeError(f"the home page of {base} did not run")
    errors = [t for t in session.texts if t.startswith("exception")]
    if errors:
        raise RuntimeError(f"the home page of {base} failed: {errors}")
    NAVIGATED.add(base)


def enter(page: Any, base: str, *, timeout_s: float = 240) -> None:
    """What a visitor's first click lands on: / and its real menu, once the run has finished.
    Skipped on a server in NAVIGATED, where a direct link already gets the real pages."""
    if base in NAVIGATED:
        return
    log = RunLog.of(page)
    page.goto(base + "/")
    page.get_by_test_id("stSidebarNav").wait_for(timeout=timeout_s * 1000)
    log.settle(timeout_s=timeout_s)


def open_page(page: Any, base: str, path: str, *, timeout_s: float = 240) -> None:
    """Open `path` as a visitor would: the entry page first on a server where no session has
    run app.py's st.navigation yet (until then a fresh server serves pages/ the old way), then
    `path`; return when the server's run has finished and the browser has drawn it."""
    log = RunLog.of(page)
    enter(page, base, timeout_s=timeout_s)
    before = time.perf_counter()
    page.goto(base + path)
    # Attached, not visible: in talk mode (talk=1) the menu sits in the collapsed sidebar.
    page.get_by_test_id("stSidebarNav").wait_for(state="attached", timeout=timeout_s * 1000)
    log.settle(after=before, timeout_s=timeout_s)
    wait_rendered(page, timeout_ms=timeout_s * 1000)


# Text that must fit its box: titles, widget labels, metric values and labels, tab labels.
FITS = ("[data-testid='stMain'] h1, [data-testid='stMain'] h2, [data-testid='stMain'] h3, "
        "[data-testid='stWidgetLabel'] p, [data-testid='stMetricValue'] > div, "
        "[data-testid='stMetricLabel'] p, [data-testid='stTab'] p")


def cut_off(page: Any) -> list[str]:
    """The titles, labels, metrics and tab labels on `page` wider than their box (cut off)."""
    return page.evaluate("""sel => [...document.querySelectorAll(sel)]
        .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
        .map(e => `${e.textContent.slice(0, 60)} (${e.scrollWidth} > ${e.clientWidth})`)""", FITS)


def assert_nothing_cut(page: Any, name: str) -> None:
    cut = cut_off(page)
    assert not cut, f"cut off on {name}: {cut}"


class PaintClock:
    """Times, inside the page, from a key press to the frame that first shows a text.

    Playwright's own waits poll with growing intervals, so they tell *that* a text appeared but
    not *when* to better than tens of milliseconds. This records `performance.now()` at the last
    keydown and, from a MutationObserver, two animation frames after the element matched by
    `selector` first contains the expected text: the frame that paints the text, and one more
    for the images drawn with it. `python benchmarks/clock_check.py` checks it against Chromium's
    screencast of the same presses: the first frame showing the finished panels came within a
    frame of this clock's time (−3 to +24 ms, the screencast's own delay included). With one
    animation frame instead of two, Plotly panels trailed by up to 60 ms (their images come
    later).
    """

    SCRIPT = """selector => {
        const clock = window.__paintClock = {key: 0, message: 0, drawn: 0, want: null,
                                             seen: null};
        // The key as the visitor pressed it (isTrusted), not the same key handed on later
        // by pages/chart.js once the moved figure is painted.
        addEventListener("keydown", e => { if (e.isTrusted) clock.key = performance.now(); },
                         true);
        // The websocket message that carries the text, on the same clock: listen before
        // Streamlit's own handler (set after the socket is built) sees it.
        const Socket = window.WebSocket;
        window.WebSocket = class extends Socket {
            constructor(...args) {
                super(...args);
                this.addEventListener("message", event => {
                    if (clock.want && !clock.message && event.data instanceof ArrayBuffer
                        && new TextDecoder().decode(event.data).includes(clock.want)) {
                        clock.message = performance.now();
                    }
                });
            }
        };
        const check = () => {
            const el = clock.want && !clock.drawn && clock.seen === null
                && document.querySelector(selector);
            if (el && el.textContent.includes(clock.want)) {
                clock.seen = clock.want;
                // The frame after the one that drew the text: its images (Plotly heatmaps are
                // data-URL images, decoded asynchronously) have had a frame to appear.
                requestAnimationFrame(() => requestAnimationFrame(() => {
                    clock.drawn = performance.now();
                }));
            }
        };
        const watch = () => new MutationObserver(check).observe(
            document.body, {subtree: true, childList: true, characterData: true});
        document.body ? watch() : addEventListener("DOMContentLoaded", watch);
    }"""

    def __init__(self, page: Any, selector: str) -> None:
        self.page = page
        page.add_init_script(f"({self.SCRIPT})({selector!r})")

    def expect(self, text: str) -> None:
        """Watch for `text`; call before the key press that should make it appear."""
        self.page.evaluate("t => Object.assign(window.__paintClock, "
                           "{want: t, seen: null, message: 0, drawn: 0})", text)

    def wait(self, timeout_ms: float = 120_000) -> float:
        """Seconds from the last key press to the frame that showed the expected text."""
        self.page.wait_for_function("() => window.__paintClock.drawn > 0", timeout=timeout_ms)
        return self.page.evaluate("() => window.__paintClock.drawn - window.__paintClock.key") / 1e3

    def message(self) -> float | None:
        """Seconds from the last key press to the websocket message that carried the text
        (after `wait`), on the page's clock; None if no message contained it."""
        since = self.page.evaluate("() => window.__paintClock.message && "
                                   "window.__paintClock.message - window.__paintClock.key")
        return since / 1e3 if since else None
