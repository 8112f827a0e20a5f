"""Memory a hostile visitor can cost the server: prints figures, asserts nothing.

    python benchmarks/hostile.py decoder        # peak RSS of decoding each crafted payload
    python benchmarks/hostile.py flood          # a live server under an upload flood
    python benchmarks/hostile.py urls --n 1000  # RSS after 100 and after n distinct URLs
    python benchmarks/hostile.py urls --mix light  # digits and small 2-D scenes only: quicker

decoder: each canvas payload and upload is decoded in a fresh Python process (so one payload's
peak cannot hide another's) and its peak RSS (ru_maxrss) is printed beside the process's peak
before decoding, through advcore.preprocess as the page uses it now and, for the canvas, the old
path (the component's image_data: Pillow opens any format at any size, then a float copy).
Target: every payload under 1 GB.

flood: `streamlit run app.py` on a free 127.0.0.1 port (stopped by its PID); one headless
Chromium tab opens /digits, then PUTs --puts files of ~4.9 MB (the 5 MB maxUploadSize) to the
upload endpoint, as a script in the tab could. Prints the server's RSS and its peak (VmHWM)
before, after the flood, and after the tab closed.

urls: the same server, visited by --n distinct URLs (see distinct_urls: every page, each URL
with its own seed, digit or ε) over Streamlit's websocket from Python, one short session each,
--parallel at a time: what a browser's visit costs the server, without a browser's CPU.
Prints RSS after 100 URLs and every 100 after, then after the sessions have expired
(server.disconnectedSessionTTL). Target: RSS after n within 150 MB of RSS after 100.

Measured on the 2-core dev box, load average 3-7 (2026-12-01):
- decoder: 6000-px RGBA canvas (170 kB) 2506 MB peak by the old path, 33 MB now (refused from
  its header); 6000-px TIFF canvas (203 kB) 1896 MB old, 32 MB now (refused unparsed); largest
  accepted canvas (2048 px) 84 MB; largest accepted upload (4096 px RGBA PNG) 231 -> 164 MB;
  noisy 16-bit 4096 px PNG 294 -> 138 MB. Worst now: 164 MB.
- flood --puts 60: RSS 515 -> 532 MB after 60 PUTs of 4.9 MB (the newest two kept), peak
  (VmHWM) 673 MB unchanged from start-up; the closed tab's uploads freed at once.
- urls --mix light: 587 -> 616 MB (+29) from 100 to 1,000 URLs (Streamlit's defaults: +31).
- urls --mix all: 803 -> 844 MB (+41) from 100 to 1,000 URLs, 838 MB after the sessions
  expired; before the malloc arena cap and trim (pages/guard.py), 708 -> 762 MB from 100 to 200
  URLs and 792 MB at about 250 (stopped there).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "browser")]

import harness  # noqa: E402  (the browser tests' server and Chromium harness)

TARGET_PEAK_MB = 1024
OLD_DECODER = "d8165d9^"  # the commit before the canvas data URL decoder
TARGET_GROWTH_MB = 150


# --- decoder: one payload per fresh process ---------------------------------------------------

DECODE = r"""
import base64, importlib.util, io, json, sys
from pathlib import Path
import numpy as np
from PIL import Image
from advcore import preprocess
kind, path, old_path = sys.argv[1], sys.argv[2], sys.argv[3]
spec = importlib.util.spec_from_file_location("old_preprocess", old_path)
old = importlib.util.module_from_spec(spec)
spec.loader.exec_module(old)
raw = open(path, "rb").read()

def status(key):
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(key))
    return int(line.split()[1]) / 1024

Path("/proc/self/clear_refs").write_text("5")  # VmHWM (peak RSS) := RSS now
before = status("VmRSS")
try:
    if kind == "canvas":
        preprocess.digit_from_canvas_url(raw.decode("ascii"))
    elif kind == "canvas-old":  # what the page did: the component's image_data, old decoding
        encoded = raw.decode("ascii").split(";base64,", 1)[1]
        old.digit_from_canvas(np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded)))))
    elif kind == "upload-old":
        old.digit_from_bytes(raw)
    else:
        preprocess.digit_from_bytes(raw)
    outcome = "decoded"
except Exception as exc:
    outcome = f"{type(exc).__name__}: {str(exc)[:60]}"
print(json.dumps({"before": before, "peak": status("VmHWM"), "outcome": outcome}))
"""


def _png(img: object, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kwargs)  # type: ignore[attr-defined]
    return buf.getvalue()


def _data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def payloads() -> list[tuple[str, str, bytes]]:
    """(label, kind, bytes): the crafted canvases and uploads of issue 17, and the largest
    legitimate ones."""
    import numpy as np
    from PIL import Image, ImageDraw

    from advcore import preprocess

    def seven(side: int, mode: str = "RGBA") -> Image.Image:
        img = Image.new(mode, (side, side), "white")
        s = side / 280
        ImageDraw.Draw(img).line([(60 * s, 50 * s), (200 * s, 50 * s), (110 * s, 240 * s)],
                                 fill="black", width=round(22 * s))
        return img

    big_canvas = _png(seven(6000), optimize=True)
    tiff = io.BytesIO()
    seven(280, "RGB").save(tiff, format="TIFF", compression="tiff_deflate")
    big_tiff = io.BytesIO()
    seven(6000, "RGB").save(big_tiff, format="TIFF", compression="tiff_deflate")
    rng = np.random.default_rng(0)
    noisy = (np.asarray(seven(4096, "L"), dtype=np.int16)
             + rng.integers(-2, 3, (4096, 4096))).clip(0, 255).astype(np.uint16) * 257
    out = [
        (f"canvas 6000 px RGBA PNG ({len(big_canvas) / 1e3:.0f} kB)", "canvas",
         _data_url(big_canvas).encode()),
        (f"canvas 6000 px RGBA PNG ({len(big_canvas) / 1e3:.0f} kB), old path", "canvas-old",
         _data_url(big_canvas).encode()),
        ("canvas 20000 px PNG header", "canvas",
         _data_url(_png(Image.new("L", (8, 8)))[:16] + _ihdr(20000, 20000)).encode()),
        (f"canvas {preprocess.MAX_CANVAS_SIDE} px RGBA PNG (largest accepted)", "canvas",
         _data_url(_png(seven(preprocess.MAX_CANVAS_SIDE))).encode()),
        ("canvas 280 px TIFF labelled image/png", "canvas", _data_url(tiff.getvalue()).encode()),
        ("canvas 280 px TIFF, old path", "canvas-old", _data_url(tiff.getvalue()).encode()),
        (f"canvas 6000 px TIFF ({len(big_tiff.getvalue()) / 1e3:.0f} kB)", "canvas",
         _data_url(big_tiff.getvalue(), "image/tiff").encode()),
        (f"canvas 6000 px TIFF ({len(big_tiff.getvalue()) / 1e3:.0f} kB), old path",
         "canvas-old", _data_url(big_tiff.getvalue(), "image/tiff").encode()),
        ("canvas 8 MB of base64", "canvas", (preprocess.CANVAS_PREFIX + "A" * 8_000_000).encode()),
        ("upload 4096 px RGBA PNG (largest accepted)", "upload", _png(seven(4096))),
        ("upload 4096 px RGBA PNG, old path", "upload-old", _png(seven(4096))),
        ("upload 4096 px 16-bit grey PNG, noisy", "upload", _png(Image.fromarray(noisy))),
        ("upload 4096 px 16-bit grey PNG, noisy, old path", "upload-old",
         _png(Image.fromarray(noisy))),
        ("upload 10000 px PNG bomb", "upload", _png(Image.new("L", (10_000, 10_000)),
                                                    optimize=True)),
    ]
    return out


def _ihdr(width: int, height: int) -> bytes:
    """The rest of a PNG after its signature and IHDR length: a header claiming width×height."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    body = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))[8:]
    return body + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(b"IEND", b"")


def decoder() -> None:
    print(f"{'payload':58s} {'before':>7s} {'peak':>7s}  outcome")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        # The decoder as it was before issue 17 (for the "old path" rows).
        old = Path(tmp) / "old_preprocess.py"
        old.write_text(subprocess.run(["git", "show", f"{OLD_DECODER}:advcore/preprocess.py"],
                                      cwd=ROOT, capture_output=True, text=True,
                                      check=True).stdout)
        for label, kind, data in payloads():
            path = Path(tmp) / "payload"
            path.write_bytes(data)
            done = subprocess.run([sys.executable, "-c", DECODE, kind, str(path), str(old)],
                                  cwd=ROOT,
                                  capture_output=True, text=True, timeout=600,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})
            if done.returncode != 0:
                print(f"{label:58s} process died (rc {done.returncode}): "
                      f"{done.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            if not kind.endswith("-old"):
                worst = max(worst, r["peak"])
            print(f"{label:58s} {r['before']:6.0f}M {r['peak']:6.0f}M  {r['outcome']}")
    print(f"worst peak through preprocess: {worst:.0f} MB (target < {TARGET_PEAK_MB} MB: "
          f"{'ok' if worst < TARGET_PEAK_MB else 'OVER'})")


# --- a live server ------------------------------------------------------------------------------


def status_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) of a process, in MB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(line.split()[1]) / 1024
    return out


def upload_bytes(base: str) -> int:
    with urllib.request.urlopen(base + "/_stcore/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(int(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith('cache_memory_bytes{cache_type="UploadedFileManager"'))


def flood(puts: int) -> None:
    from playwright.sync_api import sync_playwright
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    proc, base, _ = harness.serve_app("advplay-hostile-")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=harness.CHROMIUM,
                                        args=harness.CHROMIUM_ARGS)
            context = browser.new_context()
            tab = context.new_page()
            log = harness.RunLog.of(tab)
            tab.goto(base + "/digits?model=mnist-linear")
            log.settle(timeout_s=300)
            print(f"server after /digits: {status_mb(proc.pid)}")
            sid = next(ForwardMsg.FromString(raw).new_session.initialize.session_id
                       for _, kind, raw in reversed(log.events) if kind == "new_session")
            xsrf = next(c["value"] for c in context.cookies() if c["name"] == "_streamlit_xsrf")
            body = os.urandom(int(4.9 * 2**20))
            t = time.perf_counter()
            refused = 0
            for _ in range(puts):
                r = context.request.put(
                    f"{base}/_stcore/upload_file/{sid}/{uuid.uuid4()}",
                    multipart={"file": {"name": "f.png", "mimeType": "image/png",
                                        "buffer": body}},
                    headers={"X-Xsrftoken": xsrf})
                refused += not r.ok
            print(f"after {puts} PUTs of 4.9 MB in {time.perf_counter() - t:.0f} s "
                  f"({refused} refused): {status_mb(proc.pid)}")
            context.close()
            closed = time.perf_counter()
            while upload_bytes(base) and time.perf_counter() - closed < 60:
                time.sleep(1)
            print(f"tab closed, uploads {upload_bytes(base) / 2**20:.1f} MB held "
                  f"{time.perf_counter() - closed:.0f} s later: {status_mb(proc.pid)}")
            browser.close()
    finally:
        harness.stop(proc)


# --- many distinct URLs -------------------------------------------------------------------------


def distinct_urls(n: int, mix: str = "light") -> list[tuple[str, str]]:
    """(page, query) pairs, all different.

    light: digits (a test digit and an ε each, mnist-linear, FGSM), every tenth a small 2-D
    scene with its own seed. all: every page in turn, each URL with its own seed, digit or ε:
    digits on all three models (FGSM, PGD-10), 2-D scenes of 100-400 points and widths 16-64
    (a model trained for each), how-it-works digits, the robustness lab's curves and 2-D
    adversarial training.
    """
    out = []
    for i in range(n):
        eps = 0.01 + (i % 40) / 100
        if mix == "light":
            if i % 10 == 9:
                out.append(("boundary", f"dataset=moons&n=100&seed={1000 + i}&eps=0.2"))
            else:
                out.append(("digits", f"model=mnist-linear&attack=fgsm&eps={eps:.2f}"
                                      f"&index={i % 1000}"))
            continue
        model = ("mnist-linear", "mnist-cnn", "mnist-cnn-robust")[i % 3]
        kind = i % 5
        if kind in (0, 1):
            attack = "pgd" if i % 2 else "fgsm"
            out.append(("digits", f"model={model}&attack={attack}&eps={eps:.2f}&steps=10"
                                  f"&index={i % 1000}"))
        elif kind == 2:
            out.append(("boundary", f"dataset={('moons', 'circles')[i % 2]}"
                                    f"&n={(100, 200, 400)[i % 3]}&seed={i}"
                                    f"&width={(16, 32, 64)[i % 3]}&eps={eps * 2:.2f}"))
        elif kind == 3:
            out.append(("how-it-works", f"model={model}&index={i % 1000}&eps={eps:.2f}"
                                        f"&seed={i}"))
        elif i % 10 == 4:
            out.append(("robustness", f"section=curves&eps={eps:.2f}"))
        else:
            out.append(("robustness", f"section=training&seed={i}&toy_eps={0.05 + eps:.2f}"))
    return out


def visit(port: int, page: str, query: str) -> None:
    """One session: open the websocket, run the page at that query, wait for the finished run."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"],
                 max_size=None, open_timeout=60) as ws:
        msg = BackMsg()
        msg.rerun_script.query_string = query
        msg.rerun_script.page_name = page
        ws.send(msg.SerializeToString())
        while True:
            fm = ForwardMsg.FromString(ws.recv(timeout=600))
            if (fm.WhichOneof("type") == "script_finished"
                    and fm.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY):
                return


def urls(n: int, parallel: int, mix: str) -> None:
    proc, base, _ = harness.serve_app("advplay-hostile-")
    port = int(base.rsplit(":", 1)[1])
    try:
        print(f"server pid {proc.pid}: {status_mb(proc.pid)}")
        plan = distinct_urls(n, mix)
        marks: dict[int, float] = {}
        t = time.perf_counter()
        with ThreadPoolExecutor(parallel) as pool:
            for start_at in range(0, n, 100):
                list(pool.map(lambda pq: visit(port, *pq), plan[start_at:start_at + 100]))
                done = min(start_at + 100, n)
                marks[done] = status_mb(proc.pid)["VmRSS"]
                print(f"  {done:5d} URLs, {time.perf_counter() - t:6.0f} s: "
                      f"{status_mb(proc.pid)}", flush=True)
        ttl = 30  # .streamlit/config.toml server.disconnectedSessionTTL
        time.sleep(ttl + 5)
        visit(port, "", "")  # a write to the session store reaps the expired sessions
        after = status_mb(proc.pid)
        first, last = marks[min(marks)], marks[max(marks)]
        print(f"RSS after {min(marks)} URLs {first:.0f} MB, after {max(marks)} {last:.0f} MB: "
              f"{last - first:+.0f} MB (target ≤ +{TARGET_GROWTH_MB}: "
              f"{'ok' if last - first <= TARGET_GROWTH_MB else 'OVER'}); after the sessions "
              f"expired {after['VmRSS']:.0f} MB")
    finally:
        harness.stop(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    sub.add_parser("decoder")
    f = sub.add_parser("flood")
    f.add_argument("--puts", type=int, default=60)
    u = sub.add_parser("urls")
    u.add_argument("--n", type=int, default=1000)
    u.add_argument("--parallel", type=int, default=2)
    u.add_argument("--mix", choices=("light", "all"), default="all")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    if args.what == "decoder":
        decoder()
    elif args.what == "flood":
        flood(args.puts)
    else:
        urls(args.n, args.parallel, args.mix)


if __name__ == "__main__":
    main()
