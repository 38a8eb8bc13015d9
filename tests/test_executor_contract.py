"""The executor contract, run against every executor: serial, local and Dask on loopback.

Each test starts a real executor (``serial`` runs the steps in this process; ``local`` a
pool of two worker processes; ``dask`` a LocalCluster of two single-thread worker
processes on 127.0.0.1; ``dask-procs`` a cluster of real ``dask scheduler`` and ``dask
worker`` processes started once for this module, each worker with its own temporary
folder as on another machine), submits tasks built from the fault steps of
:mod:`tests.faults`, polls until every task came back, and checks what the scheduler
relies on: the right values at the right offsets, a failing item failing alone, step
retries, timeouts, a lost worker, the items running now, cancel and close. What only one
executor does is tested in ``test_local_executor.py`` and ``test_dask_executor.py``.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from runner.execute.base import Completion, Done, Executor, ExecutorOptions, Lost, Task
from runner.execute.span import Span
from tests import faults
from tests.executor_kit import (
    FAIL_FIRST,
    KINDS,
    NO_DASK,
    chain,
    items,
    start_executor,
    wait_all,
    wait_for,
)

NO_WORKER = "serial runs tasks in flow's own process: there is no worker to lose or end"
NOTHING_TRAVELS = "serial runs tasks in flow's own process: nothing crosses a process boundary"
# Seconds for every task of a test to come back (a Dask cluster answers more slowly).
PATIENCE = {"serial": 8.0, "local": 8.0, "dask": 15.0, "dask-procs": 15.0}
ALL_KINDS = [*KINDS, pytest.param("dask-procs", marks=pytest.mark.skipif(bool(NO_DASK),
                                                                         reason=NO_DASK))]


@pytest.fixture(params=ALL_KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def procs(tmp_path_factory: pytest.TempPathFactory):
    """A cluster of real scheduler and worker processes, for this module's ``dask-procs``."""
    from tests.dask_procs import ProcCluster

    cluster = ProcCluster(tmp_path_factory.mktemp("dask-procs"), own_tmp=True)
    yield cluster
    cluster.close()


def start_on_procs(request: pytest.FixtureRequest, workers: int = 2, **options: Any) -> Executor:
    """A Dask executor on the module's cluster of processes (its two workers back up)."""
    from runner.run.orchestrate import RunOptions, new_executor

    cluster = request.getfixturevalue("procs")
    cluster.wait_workers(2)  # a test before may have ended one: its nanny starts it again
    ex = new_executor("dask", RunOptions(executor="dask", scheduler=cluster.address))
    scratch = request.getfixturevalue("tmp_path") / "scratch"  # storage every worker sees
    ex.start(ExecutorOptions(workers=workers, extra_paths=(faults.import_root(),),
                             scratch=str(scratch), **options))
    return ex


@pytest.fixture
def make(kind: str, request: pytest.FixtureRequest):
    """``make(**options)``: a started executor of this kind (2 workers unless told), ended after."""
    made: list[Executor] = []

    def _make(**options: Any) -> Executor:
        t0 = time.perf_counter()
        ex = start_on_procs(request, **options) if kind == "dask-procs" else \
            start_executor(kind, **options)
        print(f"\n[timing] {kind} executor started in {time.perf_counter() - t0:.2f} s")
        made.append(ex)
        return ex

    yield _make
    for ex in made:
        ex.cancel()
        ex.close()


def wait(ex: Executor, kind: str, count: int) -> dict[int, Completion]:
    return wait_all(ex, count, timeout=PATIENCE[kind])


# -- results and failures --------------------------------------------------------------------------

def test_spans_and_items_come_back_done_with_their_values_at_their_offsets(make, kind):
    ex = make()
    spans = [Span.of(0, 1000, 1), Span.of(1000, 2000, 1).sub(10, 20), Span.of(5, 50, 5),
             Span.of(0.5, 3.0, 0.5), Span.of(0, 10, 0.1).sub(12, 19)]
    for tid, span in enumerate(spans):
        ex.submit(Task("s", tid, chain(("square", {}), ("add", {"n": 1})), span=span))
    ex.submit(Task("s", 10, chain(("square", {})), items=items([3, -2, 1.5], first=40)))
    ex.submit(Task("s", 11, chain(("add", {"n": 0.5}), timeout=5.0), items=items(range(7))))
    got = wait(ex, kind, len(spans) + 2)
    assert all(isinstance(c, Done) and not c.result.failures for c in got.values()), got
    for tid, span in enumerate(spans):
        assert got[tid].result.values == tuple((i, v * v + 1) for i, v in enumerate(span))
    assert got[1].result.values[0] == (0, 1010 * 1010 + 1)
    assert [v for _, v in got[4].result.values] == [(i * 0.1) ** 2 + 1 for i in range(12, 19)]
    assert got[10].result.values == ((40, 9), (41, 4), (42, 2.25))
    assert got[11].result.values == tuple((i, i + 0.5) for i in range(7))


AWKWARD = [  # (fault kind, the failure's one-line reason)
    ("value", "ValueError: bad value 1"),
    ("odd_init", "OddInit: odd failure 7: value 1"),
    ("base", "BaseFailure: base failure at 1"),
    ("system_exit", "SystemExit: 3"),
    ("bad_str", "BadStr"),
    ("unpicklable", "Unpicklable: cannot travel 1"),
    ("keyboard", "KeyboardInterrupt"),  # in a worker; in flow's own process it is Ctrl-C
]


def test_a_step_that_raises_fails_its_item_only_whatever_it_raises(make, kind):
    ex = make()
    cases = [(k, why) for k, why in AWKWARD if not (kind == "serial" and k == "keyboard")]
    for n, (fault, _) in enumerate(cases):
        step = ("raise_at", {"kind": fault, "at": 1})
        ex.submit(Task("s", 2 * n, chain(step), items=items([0, 1, 2])))  # whole chunks
        ex.submit(Task("s", 2 * n + 1, chain(step, timeout=5), span=Span.of(0, 3, 1)))  # tracked
    got = wait(ex, kind, 2 * len(cases))
    for n, (fault, reason) in enumerate(cases):
        for tid in (2 * n, 2 * n + 1):
            res = got[tid]
            assert isinstance(res, Done), (fault, res)
            assert res.result.values == ((0, 0), (2, 2)), fault
            [failure] = res.result.failures
            assert (failure.offset, failure.step, failure.reason, failure.attempts) == \
                (1, "s0_raise_at", reason, 1), fault


def test_a_step_is_retried_as_its_chain_says_and_attempts_are_counted(make, kind, tmp_path):
    ex = make()
    once = {"flag": str(tmp_path / "once"), "at": 2}
    ex.submit(Task("s", 1, chain((FAIL_FIRST, once), retries=1), items=items(range(4))))
    # (item by item, as a timeout asks: a whole-chunk pass that raised is redone item by item)
    ex.submit(Task("s", 2, chain((FAIL_FIRST, {"flag": str(tmp_path / "never"), "at": 1}),
                                 timeout=5), items=items(range(3))))
    ex.submit(Task("s", 3, chain(("raise_at", {"kind": "value", "at": 0}), retries=2,
                                 timeout=5), items=items([0, 5])))
    got = wait(ex, kind, 3)
    assert got[1].result.values == tuple((i, i) for i in range(4))  # the second attempt passed
    assert not got[1].result.failures and (tmp_path / "once").exists()
    assert [(f.offset, f.reason, f.attempts) for f in got[2].result.failures] == \
        [(1, "ValueError: first attempt at 1 fails", 1)]  # no retries: no second attempt
    assert got[3].result.values == ((1, 5),)
    assert [(f.offset, f.reason, f.attempts) for f in got[3].result.failures] == \
        [(0, "ValueError: bad value 0", 3)]


@pytest.mark.parametrize("fault, reason", [
    ("lambda", "result cannot be sent back: AttributeError: Can't pickle local object"),
    ("odd_exception", "result cannot be sent back: TypeError"),
])
def test_a_result_that_cannot_travel_fails_its_item(make, kind, fault, reason):
    if kind == "serial":
        pytest.skip(NOTHING_TRAVELS)
    ex = make(workers=1)
    ex.submit(Task("s", 1, chain(("odd_value_at", {"kind": fault, "at": 1})),
                   items=items([0, 1, 2])))
    res = wait(ex, kind, 1)[1]
    assert isinstance(res, Done) and res.result.values == ((0, 0), (2, 2))
    [failure] = res.result.failures
    assert failure.offset == 1 and failure.reason.startswith(reason)


def test_an_item_that_cannot_be_sent_fails_its_task(make, kind):
    if kind == "serial":
        pytest.skip(NOTHING_TRAVELS)
    ex = make(workers=1)
    ex.submit(Task("s", 1, chain(("square", {})), items=((0, lambda: 1, ()), (1, 2, ()))))
    ex.submit(Task("s", 2, chain(("square", {})), span=Span.of(0, 2, 1)))
    got = wait(ex, kind, 2)
    assert [f.offset for f in got[1].result.failures] == [0, 1]
    assert got[1].result.failures[0].reason.startswith("task could not be passed to a worker")
    assert got[2].result.values == ((0, 0), (1, 1))


# -- timeouts and lost workers ---------------------------------------------------------------------

def timed_out_at(c: Completion) -> int | None:
    """The offset an executor reported timed out: Lost with ``timed_out`` (a worker was
    ended), or the item's own failure (serial, where an alarm interrupts the step)."""
    if isinstance(c, Lost):
        return c.offset if c.timed_out and c.reason == "timed out after 1 s" else None
    return next((f.offset for f in c.result.failures if "timed out after 1 s" in f.reason), None)


@pytest.mark.parametrize("hang", ["sleep_at", "spin_at"])
def test_an_item_past_its_timeout_is_reported_at_that_item_and_the_rest_goes_on(make, kind,
                                                                                 hang):
    ex = make()
    t0 = time.monotonic()
    ex.submit(Task("s", 1, chain((hang, {"at": 2, "seconds": 30}), timeout=1),
                   items=items(range(5))))
    ex.submit(Task("s", 2, chain(("sleep_at", {"seconds": 0.1}), ("pid", {}), timeout=1),
                   items=items(range(5))))
    got = wait(ex, kind, 2)
    took = time.monotonic() - t0
    print(f"\n[timing] {kind}: a 30 s item with timeout 1 s reported after {took:.2f} s")
    assert timed_out_at(got[1]) == 2, got[1]
    assert {"serial": 2.5, "local": 1.5, "dask": 5.0, "dask-procs": 5.0}[kind] > took
    assert isinstance(got[2], Done) and len(got[2].result.values) == 5  # 0.5 s in all: in time
    survivor = got[2].result.values[0][1]
    ex.submit(Task("s", 3, chain(("square", {})), items=items(range(5))))
    assert wait(ex, kind, 1)[3].result.values == tuple((i, i * i) for i in range(5))
    assert not faults.pid_gone(survivor)  # only the worker that hung was ended


def test_a_killed_worker_loses_its_task_at_the_item_and_the_rest_goes_on(make, kind, tmp_path):
    if kind == "serial":
        pytest.skip(NO_WORKER)
    ex = make()
    mark = tmp_path / "killed"
    ex.submit(Task("s", 1, chain(("kill_at", {"at": 13, "mark": str(mark)})),
                   items=items(range(10, 20))))
    for tid in range(2, 6):
        ex.submit(Task("s", tid, chain(("square", {})), span=Span.of(0, 100, 1)))
    got = wait(ex, kind, 5)
    lost = got[1]
    assert mark.exists() and isinstance(lost, Lost), lost
    assert lost.offset == 3 and not lost.timed_out
    assert lost.reason in ("worker killed by SIGKILL", "worker died")
    _, dead = faults.read_mark(str(mark))
    for tid in range(2, 6):
        assert isinstance(got[tid], Done) and got[tid].result.values == \
            tuple((i, i * i) for i in range(100))
    # Later tasks still complete, on the survivor and the replacement.
    for tid in range(6, 12):
        ex.submit(Task("s", tid, chain(("pid", {})), items=items(range(3))))
    later = wait(ex, kind, 6)
    pids = {v for c in later.values() for _, v in c.result.values}
    assert all(isinstance(c, Done) for c in later.values()) and dead not in pids


# -- what runs now ---------------------------------------------------------------------------------

def test_running_names_the_item_a_worker_is_on_and_for_how_long(make, kind):
    """What the live table's stall notices rely on: an item that runs long is named, with
    its offset and its seconds so far, while it runs; once its task is back, it is not."""
    if kind == "serial":
        pytest.skip("serial runs each task inside submit(): nothing runs between calls")
    ex = make()
    ex.submit(Task("s", 1, chain(("sleep_at", {"seconds": 3.0, "at": 2})),
                   items=items([0, 1, 2, 3], first=10)))
    seen: list[tuple[int, int | None, float]] = []
    back: list[Completion] = []

    def named() -> bool:
        back.extend(ex.poll(0.05))  # as the scheduler polls while it looks
        seen[:] = [(r.task.task_id, r.offset, r.seconds) for r in ex.running()]
        return any(s >= 1.2 for _, _, s in seen)

    wait_for(named, timeout=PATIENCE[kind])
    (task_id, offset, seconds), = seen
    assert (task_id, offset) == (1, 12) and seconds < 3.0, seen
    assert back == []
    got = wait(ex, kind, 1)
    assert got[1].result.values == tuple((10 + i, i) for i in range(4))
    assert ex.running() == []


# -- capacity, cancel and close --------------------------------------------------------------------

def test_capacity_keeps_each_worker_busy_with_one_task_waiting(make, kind):
    ex = make(workers=2)
    assert ex.capacity() == {"serial": 1, "local": 4, "dask": 4, "dask-procs": 4}[kind]


def test_cancel_forgets_tasks_not_yet_polled_and_refuses_new_ones(make, kind):
    ex = make()
    for tid in range(3):
        ex.submit(Task("s", tid, chain(("square", {})), span=Span.of(0, 3, 1)))
    time.sleep(0.5)  # done by now, their results waiting to be polled
    ex.cancel()
    assert ex.poll(0.2) == []
    with pytest.raises(RuntimeError):
        ex.submit(Task("s", 9, chain(("square", {})), span=Span.of(0, 3, 1)))


def test_cancel_ends_the_workers_of_long_tasks_at_once(make, kind, tmp_path):
    if kind == "serial":
        pytest.skip(NO_WORKER + " (a serial task is ended by Ctrl-C: see test_scheduler)")
    ex = make()
    marks = [tmp_path / f"m{i}" for i in range(4)]
    for tid, mark in enumerate(marks):
        ex.submit(Task("s", tid, chain(("sleep_at", {"seconds": 60, "mark": str(mark)})),
                       items=items([tid])))
    wait_for(lambda: sum(m.exists() for m in marks) == 2, timeout=10.0)
    pids = [faults.read_mark(str(m))[1] for m in marks if m.exists()]
    t0 = time.monotonic()
    ex.cancel()
    took = time.monotonic() - t0
    print(f"\n[timing] {kind}: cancel() with two 60 s tasks running took {took * 1000:.0f} ms")
    assert faults.wait_gone(pids, 0.2) == []
    assert took < {"local": 1.1, "dask": 5.0, "dask-procs": 2.0}[kind]  # a cluster's close
    assert ex.poll(0.1) == []  # abandoned tasks are not reported


def test_close_after_the_work_ends_the_workers_and_refuses_new_tasks(make, kind):
    ex = make()
    for tid in range(4):
        ex.submit(Task("s", tid, chain(("sleep_at", {"seconds": 0.2}), ("pid", {})),
                       items=items([tid])))
    pids = {c.result.values[0][1] for c in wait(ex, kind, 4).values()}
    t0 = time.monotonic()
    ex.close()
    took = time.monotonic() - t0
    print(f"\n[timing] {kind}: close() took {took * 1000:.0f} ms")
    assert took < {"serial": 0.1, "local": 1.0, "dask": 5.0, "dask-procs": 2.0}[kind]
    if kind != "serial":
        assert len(pids) == 2 and os.getpid() not in pids
    if kind == "dask-procs":  # someone else's cluster: left as it was, usable
        assert not any(faults.pid_gone(p) for p in pids)
    elif kind != "serial":
        assert faults.wait_gone(pids, 0.5) == []
    with pytest.raises(RuntimeError):
        ex.submit(Task("s", 9, chain(("square", {})), span=Span.of(0, 3, 1)))
