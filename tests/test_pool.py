"""pages/pool.py: the shared worker pool's fairness, budget and cancellation (no Streamlit run)."""

from __future__ import annotations

import threading
import time

import pytest

from pages import pool


def spin(seconds: float) -> float:
    """Burn CPU for `seconds` of this thread's CPU time, asking the pool's hook as advcore does."""
    t0 = time.thread_time()
    while time.thread_time() - t0 < seconds:
        if pool.should_stop():
            raise pool.Cancelled("stopped")
    return seconds


def test_compute_runs_on_a_worker_and_returns_the_result() -> None:
    assert pool.compute("test", lambda a, b: (a + b, threading.current_thread().name),
                        2, 3) == (5, "advplay-pool-0")


def test_round_robin_across_sessions() -> None:
    order: list[str] = []
    p = pool._Pool(1)
    gate, _ = _blocked(p)  # the worker holds a job until the gate opens
    jobs = [pool.Job(f"{s}{i}", order.append, (f"{s}{i}",), s, (s, 0))
            for s, n in (("hostile", 4), ("victim", 1)) for i in range(n)]
    for j in jobs:
        p.submit(j)
    victim = jobs[-1]
    assert p.place(victim) == 2  # behind one hostile job, not four
    gate.set()
    for j in jobs:
        assert j.done.wait(10)
    assert order.index("victim0") == 1


def test_budget_stops_a_run_past_its_cpu_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADVPLAY_CPU_BUDGET_S", "0.2")
    with pytest.raises(pool.BudgetExceeded, match="more than 0.2 CPU seconds"):
        pool.compute("a big job", spin, 5.0)
    # The same run has spent its budget; a new run (here: another thread) has its own.
    with pytest.raises(pool.BudgetExceeded):
        pool.compute("a small job", spin, 0.05)
    out: list[float] = []
    t = threading.Thread(target=lambda: out.append(pool.compute("a small job", spin, 0.05)))
    t.start()
    t.join(30)
    assert out == [0.05]


def test_queue_is_bounded() -> None:
    p = pool._Pool(0)  # no workers: nothing leaves the queue
    for _ in range(pool.MAX_PER_SESSION):
        p.submit(pool.Job("j", print, (), "s", ("s", 0)))
    with pytest.raises(pool.QueueFull):
        p.submit(pool.Job("j", print, (), "s", ("s", 0)))


def test_jobs_with_array_arguments_are_queued_placed_and_finished() -> None:
    """A job is compared by identity: two jobs over equal-shaped digit arrays (the /digits page's
    fragility and gallery) once made `place` ask an array for its truth value, and crash."""
    import numpy as np

    p = pool._Pool(1)
    gate, _ = _blocked(p)  # the worker holds a job until the gate opens
    digit = np.zeros((28, 28), np.float32)
    jobs = [pool.Job("fragility", np.sum, (digit + i,), s, (s, 0))
            for i, s in enumerate(("a", "a", "b"))]
    for j in jobs:
        p.submit(j)
    assert [p.place(j) for j in jobs] == [1, 3, 2]  # round robin: a, b, then a again
    gate.set()
    for j in jobs:
        assert j.done.wait(10) and j.error is None
    assert [j.result for j in jobs] == [0.0, 28 * 28, 2 * 28 * 28]


def _blocked(lane: pool._Pool) -> tuple[threading.Event, pool.Job]:
    """A job that holds `lane`'s worker until the returned event is set."""
    gate = threading.Event()
    blocker = pool.Job("a transfer row", gate.wait, (), "first visitor", ("first visitor", 0))
    lane.submit(blocker)
    deadline = time.monotonic() + 10
    while blocker.started is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert blocker.started is not None
    return gate, blocker


def test_a_long_job_never_holds_up_digit_work() -> None:
    """Head-of-line blocking: while the long lane's worker is busy with one visitor's job, a
    second visitor's per-digit job still runs at once on the digit lane."""
    gate, blocker = _blocked(pool.LONG)
    try:
        out: list[str] = []
        t = threading.Thread(target=lambda: out.append(
            pool.compute("fragility", lambda: threading.current_thread().name)))
        t.start()
        t.join(30)
        assert out == ["advplay-pool-0"] and not blocker.done.is_set()
        # ...while another long job waits behind the first, in its own lane's queue.
        queued = pool.Job("another row", print, (), "second visitor", ("second visitor", 0))
        pool.LONG.submit(queued)
        assert pool.LONG.place(queued) == 1 and pool.POOL.place(queued) == 0
    finally:
        gate.set()
    assert blocker.done.wait(10) and queued.done.wait(10)


def test_long_lane_runs_on_its_own_worker_and_the_budget_counts_both_lanes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert pool.compute("row", lambda: threading.current_thread().name,
                        lane="long") == "advplay-long-0"
    monkeypatch.setenv("ADVPLAY_CPU_BUDGET_S", "0.3")
    out: list[object] = []

    def one_run() -> None:  # one thread = one run: 0.2 s, then 0.25 s, pass 0.3 s in all
        try:
            out.append(pool.compute("row", spin, 0.2, lane="long"))
            pool.compute("cell", spin, 0.25)  # other args: not a known cache hit
        except BaseException as exc:
            out.append(exc)

    t = threading.Thread(target=one_run)
    t.start()
    t.join(60)
    assert out[0] == 0.2, out
    assert isinstance(out[1], pool.BudgetExceeded), out


def test_report_is_a_no_op_outside_a_pool_job() -> None:
    assert pool.report(0.5, "here") is False


def test_a_job_reports_progress_that_only_grows_and_is_drawn_to_its_end() -> None:
    """A job in a worker reports its progress; the waiting thread sees each value while the
    job still runs (the job waits until it has been seen), ends at 1.0, and never sees the bar
    move back (a smaller or NaN report keeps the last value)."""
    seen: list[tuple[float, str]] = []
    shown = threading.Condition()

    def draw(fraction: float, text: str) -> None:
        with shown:
            seen.append((fraction, text))
            shown.notify_all()

    def job_reporting_progress() -> str:
        for f, report in ((0.25, 0.25), (0.5, 0.5), (0.5, 0.1), (0.5, float("nan")),
                          (1.0, 1.0)):
            assert pool.report(report, f"at {report}")
            with shown:
                assert shown.wait_for(lambda f=f: seen and seen[-1][0] >= f, timeout=20)
        return "finished"

    assert pool.compute("progress test", job_reporting_progress, progress=draw) == "finished"
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions)
    assert fractions[0] == 0.25 and fractions[-1] == 1.0
    assert 0.5 in fractions and not any(f != f for f in fractions)


def test_progress_is_kept_on_the_job_for_the_waiting_thread() -> None:
    gate = threading.Event()
    p = pool._Pool(1)

    def work() -> int:
        pool.report(0.4, "four tenths")
        gate.wait(20)
        return 1

    job = pool.Job("j", work, (), "s", ("s", 0))
    p.submit(job)
    deadline = time.monotonic() + 20
    while job.progress is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert job.progress == (0.4, "four tenths") and not job.done.is_set()
    gate.set()
    assert job.done.wait(20) and job.result == 1
