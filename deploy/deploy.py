"""N replicas of the playground behind HAProxy on 127.0.0.1, started and stopped by PID.

    python deploy/deploy.py up 2                 # start, pre-warm, serve until Ctrl-C
    python deploy/deploy.py up 2 --detach        # start, pre-warm, return (state in --state)
    python deploy/deploy.py stop                 # stop what `up --detach` started
    deploy/run.sh 2                              # the same as `up 2`

Installs nothing: HAProxy must be on the PATH (Debian: `apt-get install -y haproxy`), and the
command says so and stops if it is not. Each replica is `streamlit run app.py` on its own
127.0.0.1 port with websocket compression on, a cookie secret shared by all replicas (so an
XSRF token issued by one is valid on the next after a failover) and the per-run CPU budget of a
public deployment (ADVPLAY_CPU_BUDGET_S). Each is pre-warmed with the named scenes
(advcore.playground.scenes.SCENES) over its websocket before the balancer sends it anyone. The balancer
(deploy/haproxy.cfg) is started last, in the foreground (`-db`), so its PID is ours to stop.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from string import Template
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
CONFIG = Path(__file__).resolve().parent / "haproxy.cfg"
COOKIE = "ADVPLAY_REPLICA"
HOST = "127.0.0.1"
DEFAULT_STATE = Path(tempfile.gettempdir()) / "advplay-deploy"
# A public deployment's per-run CPU budget (seconds of CPU one run may spend on expensive work).
CPU_BUDGET_S = "60"


class MissingHAProxy(RuntimeError):
    """haproxy is not installed; nothing was started."""


def haproxy_path() -> str:
    found = shutil.which("haproxy")
    if not found:
        raise MissingHAProxy("haproxy is not on the PATH; install it first "
                             "(Debian/Ubuntu: apt-get install -y haproxy). Nothing was started.")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Replica:
    name: str
    port: int
    pid: int
    log: str


@dataclass
class Deployment:
    """What `start` started: the balancer's port, its stats page, every PID."""

    port: int
    stats_port: int
    haproxy_pid: int
    replicas: list[Replica] = field(default_factory=list)
    state_dir: str = ""

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def replica(self, name: str) -> Replica:
        return next(r for r in self.replicas if r.name == name)

    def save(self) -> None:
        Path(self.state_dir, "deployment.json").write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, state_dir: Path) -> Deployment:
        d = json.loads((state_dir / "deployment.json").read_text())
        d["replicas"] = [Replica(**r) for r in d["replicas"]]
        return cls(**d)

    def stats(self) -> list[dict[str, str]]:
        """HAProxy's stats CSV: one row per frontend, backend and server."""
        with urllib.request.urlopen(f"http://{HOST}:{self.stats_port}/stats;csv",
                                    timeout=5) as r:
            lines = r.read().decode().splitlines()
        head = lines[0].lstrip("# ").split(",")
        return [dict(zip(head, line.split(","), strict=False)) for line in lines[1:] if line]

    def server_status(self) -> dict[str, str]:
        """Replica name -> HAProxy's view of it ("UP", "DOWN", ...)."""
        return {row["svname"]: row["status"] for row in self.stats()
                if row["pxname"] == "replicas" and row["svname"] not in ("FRONTEND", "BACKEND")}


def _stop_pid(pid: int, timeout: float = 10) -> None:
    if pid <= 0:  # never started (os.kill(0) would signal our whole process group)
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not our child (stopped from another process): poll
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            done = 0
        if done:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def stop(dep: Deployment) -> None:
    """Stop the balancer, then every replica, each by its PID."""
    _stop_pid(dep.haproxy_pid)
    for r in dep.replicas:
        _stop_pid(r.pid)


def kill_replica(dep: Deployment, name: str) -> None:
    """SIGKILL one replica, as a crash would (no goodbye to its browsers)."""
    pid = dep.replica(name).pid
    os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _healthy(port: int, proc: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"replica on port {port} did not start")
        time.sleep(0.3)


def sweep_values(norm: str) -> list[float]:
    """Every position of /digits' ε slider for `norm` (state.DigitsScene.EPS_RANGES)."""
    from advcore.playground.state import DigitsScene

    lo, hi, step, _ = DigitsScene.EPS_RANGES[norm]
    return [round(lo + i * step, 6) for i in range(int(round((hi - lo) / step)) + 1)]


def warm(port: int, urls: list[str], timeout: float = 900, sweep: bool = False) -> None:
    """Open each scene URL once on the replica (its caches filled, its models loaded).

    sweep: on each /digits scene, also move ε through every slider position, so that an
    audience dragging the slider only ever meets cached results (results are shared by every
    session, ε quantised to the slider's step). About 0.2-0.4 CPU-s a position with FGSM and
    ~0.6 with PGD-40: 10-30 s a scene, once per replica."""
    import wsclient

    from advcore.attacks import ATTACKS

    for url in urls:
        parts = urlsplit(url)
        page = parts.path.strip("/")
        ws = wsclient.Session(f"ws://{HOST}:{port}/_stcore/stream")
        try:
            ws.open(page, parts.query, timeout=timeout)
            if sweep and page == "digits":
                attack = dict(p.split("=", 1) for p in parts.query.split("&")).get("attack", "")
                norm = ATTACKS[attack].norm if attack in ATTACKS else "linf"
                label = "ε: largest" if norm == "linf" else "ε: L2"
                for eps in sweep_values(norm):
                    ws.move(label, eps, timeout=timeout)
        finally:
            ws.close()


def scene_urls(slugs: list[str] | None = None) -> list[str]:
    from advcore.playground.scenes import SCENES

    return [s.url() for s in SCENES if slugs is None or s.slug in slugs]


def start(n: int, *, port: int | None = None, warm_slugs: list[str] | None = None,
          state_dir: Path = DEFAULT_STATE, cpu_budget_s: str = CPU_BUDGET_S,
          extra_env: dict[str, str] | None = None, sweep: bool = False,
          bind: str = HOST) -> Deployment:
    """Start n replicas, pre-warm them (warm_slugs: the named scenes to open, None = all,
    [] = none; sweep: every ε slider position of the /digits scenes too), then the balancer,
    listening on `bind` (127.0.0.1; 0.0.0.0 inside a container, deploy/Dockerfile). Replicas
    and the stats page always stay on 127.0.0.1. On any failure, stops what it started and
    raises."""
    haproxy = haproxy_path()
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    state_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "STREAMLIT_SERVER_COOKIE_SECRET": secrets.token_hex(32),
           "ADVPLAY_CPU_BUDGET_S": cpu_budget_s, **(extra_env or {})}
    procs: list[subprocess.Popen] = []
    replicas: list[Replica] = []
    dep = Deployment(port=port or free_port(), stats_port=free_port(), haproxy_pid=0,
                     state_dir=str(state_dir))
    try:
        for i in range(1, n + 1):
            rport = free_port()
            log = state_dir / f"replica-{i}.log"
            proc = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", HOST,
                 "--server.port", str(rport), "--server.headless", "true",
                 "--server.enableWebsocketCompression", "true",
                 "--browser.gatherUsageStats", "false"],
                cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
            procs.append(proc)
            replicas.append(Replica(f"r{i}", rport, proc.pid, str(log)))
        dep.replicas = replicas
        for proc, r in zip(procs, replicas, strict=True):
            _healthy(r.port, proc, 180)
        urls = scene_urls(warm_slugs)
        with ThreadPoolExecutor(len(replicas)) as pool:
            list(pool.map(lambda r: warm(r.port, urls, sweep=sweep), replicas))
        servers = "\n".join(f"    server {r.name} {HOST}:{r.port} cookie {r.name}"
                            for r in replicas)
        cfg = Template(CONFIG.read_text()).substitute(
            BIND=bind, STATS_BIND=HOST, PORT=dep.port, STATS_PORT=dep.stats_port,
            SERVERS=servers)
        cfg_path = state_dir / "haproxy.cfg"
        cfg_path.write_text(cfg)
        subprocess.run([haproxy, "-c", "-q", "-f", str(cfg_path)], check=True)
        hap = subprocess.Popen([haproxy, "-db", "-f", str(cfg_path)],
                               stdout=(state_dir / "haproxy.log").open("w"),
                               stderr=subprocess.STDOUT)
        dep.haproxy_pid = hap.pid
        _wait_balancer(dep, hap)
        dep.save()
        return dep
    except BaseException:
        stop(dep)
        for p in procs:  # replicas not yet recorded in dep
            if p.poll() is None:
                _stop_pid(p.pid)
        raise


def _wait_balancer(dep: Deployment, hap: subprocess.Popen, seconds: float = 30) -> None:
    """Until HAProxy answers and has seen every replica healthy."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if hap.poll() is not None:
            raise RuntimeError(f"haproxy exited; see {dep.state_dir}/haproxy.log")
        try:
            if all(s == "UP" for s in dep.server_status().values()):
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("haproxy did not see every replica healthy")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    up = sub.add_parser("up", help="start N replicas and the balancer")
    up.add_argument("n", type=int)
    up.add_argument("--port", type=int, default=8500, help="the balancer's port (8500)")
    up.add_argument("--bind", default=HOST,
                    help="the balancer's address (127.0.0.1; 0.0.0.0 only inside a container "
                         "or behind a firewall: the replicas stay on 127.0.0.1)")
    up.add_argument("--detach", action="store_true", help="return once everything is up")
    up.add_argument("--warm", nargs="*", help="scene slugs to pre-warm (default: all)")
    up.add_argument("--no-sweep", action="store_true",
                    help="pre-warm each /digits scene at its own ε only, not at every slider "
                         "position (faster start, slower first minute)")
    up.add_argument("--cpu-budget", default=CPU_BUDGET_S,
                    help="per-run CPU budget in seconds (0: none)")
    up.add_argument("--state", type=Path, default=DEFAULT_STATE)
    down = sub.add_parser("stop", help="stop what `up --detach` started")
    down.add_argument("--state", type=Path, default=DEFAULT_STATE)
    args = ap.parse_args()
    if args.what == "stop":
        stop(Deployment.load(args.state))
        print("stopped")
        return
    try:
        dep = start(args.n, port=args.port, warm_slugs=args.warm, state_dir=args.state,
                    cpu_budget_s=args.cpu_budget, sweep=not args.no_sweep, bind=args.bind)
    except MissingHAProxy as exc:
        sys.exit(str(exc))
    print(f"{args.n} replicas behind {dep.base} (stats: http://{HOST}:{dep.stats_port}/stats)")
    for r in dep.replicas:
        print(f"  {r.name}: 127.0.0.1:{r.port}, pid {r.pid}, log {r.log}")
    print(f"  haproxy pid {dep.haproxy_pid}")
    if args.detach:
        print(f"stop with: python deploy/deploy.py stop --state {args.state}")
        return

    def terminate(*_: object) -> None:  # `docker stop` sends SIGTERM: stop as Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        stop(dep)


if __name__ == "__main__":
    main()
