"""One bounded worker pool for the expensive work of every session, in two lanes, with a fair
queue and a CPU budget per run.

Streamlit runs each session's script in its own thread, so one visitor's URL asking for a
transfer matrix with PGD-100 on 1,000 digits used to take as much of the CPU as it could while
everyone else's ε changes queued behind it in the OS scheduler. Here expensive work is a job:

- **Two lanes, one worker each** (`WORKERS`, 1 by default), both at nice 19 so that the
  sessions' own threads are scheduled first:
  - `lane="digit"`: one digit's or one small slice's work (an iterative attack's race,
    fragility bisection, a gallery chunk, a 25-digit test-set chunk, a robustness cell): seconds
    at most;
  - `lane="long"`: whole-table or training work (a transfer-matrix row, a masking-lab report,
    2-D adversarial training, a large 2-D model): up to minutes, and not divisible without
    changing its numbers (PGD's random start is drawn per batch).
  Why lanes, and not one queue with more workers: a running job cannot be interrupted for
  another session's, so on one queue a second visitor's /digits fragility waits for the whole
  of the first visitor's transfer row (minutes), and more workers on one queue only move the
  problem to N long jobs. A lane per kind of job bounds the wait for per-digit work by
  per-digit jobs, whatever the long lane holds. Measured with `python benchmarks/fairshare.py
  --scenario transfer --hostile 1 --before 61d5da6` (a victim opening new PGD-10 digits while
  one transfer matrix of PGD-100 on 1,000 digits runs; 2 shared cores, load 9): the victim's
  p95 went from 33 s (the row ran in its visitor's thread at normal priority, starving the
  nice-19 worker) to 6.7 s, 1.9× its idle p95. The lanes' workers run at nice 19, so two of them
  never take CPU from the sessions' own threads; they share what is left between them.
  Cheap per-digit work (FGSM, and iterative attacks below
  `pages/ui.py`'s `INLINE_GRADIENTS`) never enters the pool at all: it runs in the visitor's own
  thread, where queueing would cost more than the work.
- Within a lane, the worker takes jobs **round-robin across sessions**, so a visitor with forty
  queued cells gets one turn in every round, not forty in a row;
- at most `MAX_QUEUED` jobs wait in a lane, `MAX_PER_SESSION` per session; past that,
  `QueueFull`;
- the caller's script thread waits, showing its place in the queue, then the CPU seconds spent;
  a newer run of that session (the slider moved) or a closed tab cancels its jobs, queued or
  running (advcore's should_stop hook, asked before every forward pass);
- `ADVPLAY_CPU_BUDGET_S` (unset or 0: no limit; deploy/deploy.py sets 60) caps the CPU seconds
  one script run may spend in the pool, summed over its jobs in both lanes; past it the job
  stops with `BudgetExceeded`, and the page says what was too large and what smaller setting
  fits. A job that never asks should_stop (training a large 2-D model) is counted when it ends.

The job function runs in a worker thread without a Streamlit context; it must take the pool's
`should_stop` (pass `pool.should_stop`, which in a script thread is guard.should_stop). A long
job may also call `pool.report(fraction, text)`: the value is kept on its Job, and the waiting
script thread draws it as a progress bar (st.progress) instead of the elapsed-time line.
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from advcore.cancel import Cancelled  # re-exported for job functions
from pages import guard

WORKERS = int(os.environ.get("ADVPLAY_POOL_WORKERS", "1"))
MAX_QUEUED = 64
WORKER_NICE = 19
MAX_PER_SESSION = 48
_KNOWN_MAX = 8192  # keys of results known to be cached: those skip the queue


class QueueFull(RuntimeError):
    """Too much work is waiting; the visitor is asked to try again shortly."""


class BudgetExceeded(RuntimeError):
    """A run spent more CPU than ADVPLAY_CPU_BUDGET_S allows; `label` says on what."""

    def __init__(self, label: str, used: float, budget: float) -> None:
        super().__init__(f"{label} needed more than {budget:g} CPU seconds "
                         f"(this server's limit for one run); stopped after {used:.0f} s")
        self.label, self.used, self.budget = label, used, budget


def budget_s() -> float:
    """The per-run CPU budget in seconds (0: none)."""
    try:
        return max(0.0, float(os.environ.get("ADVPLAY_CPU_BUDGET_S", "0") or 0))
    except ValueError:
        return 0.0


@dataclass(eq=False)  # a job is itself: its args may be arrays, which have no truth value
class Job:
    label: str
    fn: Callable[..., Any]
    args: tuple
    session: str
    run: tuple
    done: threading.Event = field(default_factory=threading.Event)
    cancelled: bool = False
    started: float | None = None
    cpu: float = 0.0
    result: Any = None
    error: BaseException | None = None
    # (fraction in [0, 1], text), written by the worker through `report` and read by the
    # waiting script thread: one tuple, replaced whole (an atomic assignment), never mutated.
    progress: tuple[float, str] | None = None


class _Pool:
    def __init__(self, workers: int, name: str = "pool") -> None:
        self.name = name
        self._lock = threading.Condition()
        self._queues: collections.OrderedDict[str, collections.deque[Job]] = (
            collections.OrderedDict())
        self._run_cpu: collections.OrderedDict[tuple, float] = collections.OrderedDict()
        self._workers = workers
        self._threads: list[threading.Thread] = []
        self.running: list[Job] = []

    def _start(self) -> None:
        while len(self._threads) < self._workers:
            t = threading.Thread(target=self._work,
                                 name=f"advplay-{self.name}-{len(self._threads)}", daemon=True)
            t.start()
            self._threads.append(t)

    def queued(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def submit(self, job: Job) -> None:
        with self._lock:
            self._start()
            q = self._queues.get(job.session)
            if self.queued() >= MAX_QUEUED or (q is not None and len(q) >= MAX_PER_SESSION):
                raise QueueFull("the server is busy with other visitors' computations")
            self._queues.setdefault(job.session, collections.deque()).append(job)
            self._lock.notify()

    def place(self, job: Job) -> int:
        """1-based place of `job` in the order the workers will take jobs (0: running/done)."""
        with self._lock:
            if job.started is not None:
                return 0
            queues = [list(q) for q in self._queues.values()]
            order, rank = [], 0
            while any(rank < len(q) for q in queues):
                order += [q[rank] for q in queues if rank < len(q)]
                rank += 1
            return order.index(job) + 1 if job in order else 0

    def _next(self) -> Job:
        with self._lock:
            while True:
                for session in list(self._queues):
                    q = self._queues[session]
                    job = q.popleft() if q else None
                    # Round robin: the session just served goes to the back of the line.
                    self._queues.move_to_end(session)
                    if not q:
                        del self._queues[session]
                    if job is not None and not job.cancelled:
                        job.started = time.monotonic()
                        self.running.append(job)
                        return job
                    if job is not None:
                        job.done.set()
                if not self._queues:
                    self._lock.wait()

    def _work(self) -> None:
        local.job = None
        # Linux schedules threads on their own: a worker at the lowest priority (nice 19) runs
        # on whatever CPU the visitors' own script threads leave, so a cheap ε change is served
        # first even when the pool is busy. Lowering a priority needs no privilege.
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICE)
        while True:
            job = self._next()
            local.job = job
            local.cpu0 = time.thread_time()
            try:
                job.result = job.fn(*job.args)
            except BaseException as exc:  # handed to the waiting script thread
                job.error = exc
            finally:
                job.cpu = time.thread_time() - local.cpu0
                with self._lock:
                    self._run_cpu[job.run] = self._run_cpu.get(job.run, 0.0) + job.cpu
                    while len(self._run_cpu) > 4096:
                        self._run_cpu.popitem(last=False)
                    self.running.remove(job)
                local.job = None
                job.done.set()

    def run_cpu(self, run: tuple) -> float:
        with self._lock:
            return self._run_cpu.get(run, 0.0)


local = threading.local()
POOL = _Pool(WORKERS, "pool")  # the digit lane (its thread names stay advplay-pool-N)
LONG = _Pool(WORKERS, "long")
LANES = {"digit": POOL, "long": LONG}
_known: collections.OrderedDict[tuple, None] = collections.OrderedDict()
_known_lock = threading.Lock()


def should_stop() -> bool:
    """advcore's hook: in a pool worker, True once its job is cancelled; raises BudgetExceeded
    past the run's CPU budget. In a script thread, guard.should_stop."""
    job: Job | None = getattr(local, "job", None)
    if job is None:
        return guard.should_stop()
    if job.cancelled:
        return True
    budget = budget_s()
    if budget:
        used = run_cpu(job.run) + time.thread_time() - local.cpu0
        if used > budget:
            raise BudgetExceeded(job.label, used, budget)
    return False


def run_cpu(run: tuple) -> float:
    """CPU seconds the run's finished jobs spent, in every lane."""
    return sum(p.run_cpu(run) for p in LANES.values())


def report(fraction: float, text: str = "") -> bool:
    """Tell the script thread waiting on this pool job how far it is (fraction in [0, 1]).

    Called from a job function in a worker; a fraction below the last one reported is raised
    to it, so the bar never moves back. Returns False (and does nothing) outside a pool job,
    e.g. when a cached function runs in a script thread or a test."""
    job: Job | None = getattr(local, "job", None)
    if job is None:
        return False
    last = job.progress[0] if job.progress is not None else 0.0
    value = float(fraction) if fraction == fraction else 0.0  # NaN counts as no progress
    job.progress = (max(last, min(1.0, max(0.0, value))), str(text))
    return True


def _run_token() -> tuple[str, tuple]:
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None:
        return "bare", ("bare", threading.get_ident())
    # ScriptRunContext.reset() gives every run a new cursors dict: its id marks the run.
    return ctx.session_id, (ctx.session_id, id(ctx.cursors))


def compute(label: str, fn: Callable[..., Any], *args: Any, lane: str = "digit",
            progress: Callable[[float, str], None] | None = None) -> Any:
    """fn(*args) on the pool's `lane` ("digit" or "long", see above), waiting with a queue place
    and CPU figure on the page.

    fn is normally a st.cache_data function: a result known to be cached is returned at once,
    without queueing. A job that calls `report` is shown as a progress bar; pass `progress`
    to draw it yourself instead (a page running many jobs under one bar), called from this
    thread with each new (fraction, text). Raises QueueFull, BudgetExceeded, or the job's own
    exception."""
    import streamlit as st

    where = LANES[lane]
    key = (getattr(fn, "__qualname__", repr(fn)),
           tuple(a.tobytes() if hasattr(a, "tobytes") else a for a in args))
    with _known_lock:
        if key in _known:
            _known.move_to_end(key)
            hit = True
        else:
            hit = False
    if hit:
        return fn(*args)
    session, run = _run_token()
    job = Job(label, fn, args, session, run)
    where.submit(job)
    slot = None
    shown = 0.0
    try:
        while not job.done.wait(0.1):
            guard.should_stop()  # a newer run or a closed tab: raises, and the job is cancelled
            reported = job.progress
            if time.monotonic() - shown < (0.25 if reported is not None else 0.5):
                continue
            shown = time.monotonic()
            slot = slot or st.empty()
            place = where.place(job)
            if place:
                slot.caption(f"⏳ {label}: waiting for the shared worker, place {place} in the "
                             f"queue ({where.queued()} jobs wait, from every visitor).")
            elif reported is not None and progress is not None:
                slot.empty()
                progress(*reported)
            elif reported is not None:
                fraction, text = reported
                slot.progress(fraction, text=f"⚙️ {label}{': ' + text if text else ''} · "
                                             f"{time.monotonic() - job.started:.0f} s")
            else:
                slot.caption(f"⚙️ {label}: computing, {time.monotonic() - job.started:.0f} s…")
        if progress is not None and job.progress is not None and job.error is None:
            progress(*job.progress)  # the last report, which the throttle may have skipped
    finally:
        if not job.done.is_set():
            job.cancelled = True
        if slot is not None:
            slot.empty()
    if job.error is not None:
        if isinstance(job.error, Cancelled):
            guard.should_stop()
        raise job.error
    with _known_lock:
        _known[key] = None
        while len(_known) > _KNOWN_MAX:
            _known.popitem(last=False)
    return job.result


def explain_budget(exc: BudgetExceeded, smaller: str) -> None:
    """The page's message past the budget: what was too large, and a smaller setting."""
    import streamlit as st

    st.warning(f"{exc}. {smaller}", icon=":material/timer_off:")
