"""A freshly started server, visited by several sessions at the same moment (an audience
scanning the QR code), serves every one of them the page, not an error.

The first visit of a new server switches Streamlit out of its pages-folder mode and reruns
(pages/ui.py). That rerun used to stop the script inside `import pages.ui`; sessions importing
it at the same moment then failed with "cannot import name 'ui'" (found by `python
benchmarks/load.py --audience 10 --replicas 2`: 12 of 20 ε changes failed). The race depends on
timing: with the old st.rerun() this test failed in 2 of 3 runs, with the fix it passed 3 of 3.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "tests" / "browser")]

import harness  # noqa: E402
import wsclient  # noqa: E402

SESSIONS = 8


def test_simultaneous_first_visits_all_get_the_page() -> None:
    port = harness.free_port()
    log = Path(tempfile.mkdtemp(prefix="advplay-fresh-")) / "streamlit.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log.open("w"),
        stderr=subprocess.STDOUT)
    try:
        harness.wait_healthy(f"http://127.0.0.1:{port}", proc, log, seconds=180)

        together = threading.Barrier(SESSIONS)

        def visit(_: int) -> tuple[bool, list[str], list[str]]:
            s = wsclient.Session(f"ws://127.0.0.1:{port}/_stcore/stream")
            try:
                s.connect()
                together.wait(60)  # every session asks for its first run at the same moment
                ok = s.open("digits", "model=mnist-linear&attack=fgsm&eps=0.1&index=3",
                            timeout=300)
                return ok, list(s.sliders), [t for t in s.texts if t.startswith("exception")]
            finally:
                s.close()

        with ThreadPoolExecutor(SESSIONS) as pool:
            visits = list(pool.map(visit, range(SESSIONS)))
    finally:
        harness.stop(proc)
    for ok, sliders, errors in visits:
        assert ok and not errors, errors
        assert any(label.startswith("ε: largest") for label in sliders), sliders
    assert "cannot import name" not in log.read_text()
