"""Failover behind HAProxy: kill the replica that serves a browser, the page comes back.

deploy/deploy.py starts two replicas and the balancer on 127.0.0.1. A Chromium tab opens a
named scene through the balancer; the replica serving it is the one HAProxy's sticky cookie
names. That replica is killed (SIGKILL, as a crash). The tab's websocket reconnects through the
balancer, which sends it to the other replica, and the same scene is drawn again from the URL.

Without haproxy the test is skipped locally and fails under ADVPLAY_REQUIRE_BROWSER=1 (CI),
as the other browser tests do without Chromium.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from harness import ROOT, RunLog, wait_rendered

sys.path.insert(0, str(ROOT / "deploy"))

import deploy  # noqa: E402

SCENE = "softmax-falls"  # /digits, mnist-linear, FGSM at ε = 0.25: the cheapest named scene
SHOWN = "FGSM at ε = 0.250"


def require_haproxy() -> None:
    if shutil.which("haproxy") is None:
        reason = "haproxy not found (apt-get install -y haproxy)"
        if os.environ.get("ADVPLAY_REQUIRE_BROWSER") == "1":
            pytest.fail(f"ADVPLAY_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)


def wait_until(condition, timeout_s: float, what: str, tab) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        tab.wait_for_timeout(100)


def replica_cookie(context) -> str | None:
    return next((c["value"] for c in context.cookies() if c["name"] == deploy.COOKIE), None)


def test_failover_restores_the_scene(browser, tmp_path: Path) -> None:
    require_haproxy()
    dep = deploy.start(2, warm_slugs=[SCENE], state_dir=tmp_path)
    try:
        url = deploy.scene_urls([SCENE])[0]
        with urllib.request.urlopen(dep.base + "/_stcore/health", timeout=10) as r:
            assert r.headers["X-Frame-Options"] == "DENY"
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        tab = context.new_page()
        log = RunLog.of(tab)
        tab.goto(dep.base + url)
        log.settle()
        tab.get_by_text(SHOWN).first.wait_for(timeout=120_000)
        wait_rendered(tab)

        serving = replica_cookie(context)
        assert serving in {r.name for r in dep.replicas}, context.cookies()
        other = next(r.name for r in dep.replicas if r.name != serving)
        deploy.kill_replica(dep, serving)
        killed = time.perf_counter()
        wait_until(lambda: dep.server_status()[serving] != "UP", 30,
                   f"haproxy to mark {serving} down", tab)

        # The frontend reconnects by itself; the run it asks for finishes on the other replica.
        wait_until(lambda: log.first("script_finished", killed) is not None, 120,
                   "a run finished after the reconnect", tab)
        log.settle(after=killed)
        tab.get_by_text(SHOWN).first.wait_for(timeout=60_000)
        wait_rendered(tab)
        assert replica_cookie(context) == other
        # The same scene: every parameter of the scene's URL holds its value (the page may add
        # the defaults of others, e.g. talk=0).
        wanted = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        shown = urllib.parse.parse_qs(urllib.parse.urlsplit(tab.url).query)
        assert {k: shown.get(k) for k in wanted} == wanted, tab.url
        assert dep.server_status()[other] == "UP"
        context.close()
    finally:
        deploy.stop(dep)
