"""The local executor under fire: real worker processes, killed, hung, flooded.

What every executor must do (values, failing items, retries, a timeout, a killed
worker, cancel, close) is checked in ``test_executor_contract.py``; here is what
the hardened Pool does beyond it. Tasks are built by hand from the fault steps in
:mod:`tests.faults`; each test submits them, polls until every task has come back
(Done or Lost) and checks what a user would see: the failing item and its reason,
how fast, no hang, no process left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

from runner.execute.base import Done, ExecutorOptions, Lost, Task
from runner.execute.local.executor import LocalExecutor
from runner.execute.local.monitor import death_reason
from runner.execute.span import Span

try:
    from . import faults
except ImportError:  # tests/ not a package: it is on sys.path itself
    import faults  # type: ignore[no-redef]

from tests.executor_kit import chain, items, wait_all, wait_for  # noqa: E402 - after faults, as above

PRELOAD = (faults.MODULE,)


@pytest.fixture
def make_executor():
    """``make(**options)``: a started LocalExecutor (2 workers unless told), ended after."""
    made: list[LocalExecutor] = []

    def make(**kw: Any) -> LocalExecutor:
        opts = {"workers": 2, "extra_paths": (faults.import_root(),), "preload": PRELOAD, **kw}
        ex = LocalExecutor()
        ex.start(ExecutorOptions(**opts))
        made.append(ex)
        return ex

    yield make
    for ex in made:
        ex.cancel()


# -- 1. normal work -------------------------------------------------------------------------------

def test_start_up_cost_is_small(make_executor):
    t0 = time.perf_counter()
    ex = make_executor()
    ex.submit(Task("s", 1, chain(("square", {})), span=Span.of(0, 3, 1)))
    wait_all(ex, 1)
    took = time.perf_counter() - t0
    print(f"start() {ex.startup_seconds * 1000:.0f} ms, start() + first task {took * 1000:.0f} ms")
    assert took < 2.0


# -- 2, 3. workers that die -----------------------------------------------------------------------

@pytest.mark.parametrize("careful", [True, False])
def test_sigkilled_worker_loses_only_its_task_and_is_replaced(make_executor, tmp_path, careful):
    ex = make_executor()
    mark = str(tmp_path / "killed")
    ex.submit(Task("s", 1, chain(("kill_at", {"at": 13, "mark": mark})), items=items(range(10, 20)),
                   careful=careful))
    for tid in range(2, 6):
        ex.submit(Task("s", tid, chain(("square", {})), span=Span.of(0, 100, 1)))
    got = wait_all(ex, 5)
    received = time.monotonic()
    lost = got[1]
    assert isinstance(lost, Lost) and not lost.timed_out
    assert lost.reason == "worker killed by SIGKILL"
    # Both paths say which item the worker was on (the fast one tracks item tasks too).
    assert lost.offset == 3
    for tid in range(2, 6):
        assert isinstance(got[tid], Done)
        assert got[tid].result.values == tuple((i, i * i) for i in range(100))
    killed_at, dead_pid = faults.read_mark(mark)
    print(f"SIGKILL noticed after {(received - killed_at) * 1000:.0f} ms")
    assert received - killed_at < 1.0
    # The pool replaced the worker and stays usable.
    ex.submit(Task("s", 9, chain(("pid", {})), span=Span.of(0, 40, 1)))
    done = wait_all(ex, 1)[9]
    assert isinstance(done, Done) and dead_pid not in {v for _, v in done.result.values}
    wait_for(lambda: len(ex.worker_pids()) == 2)
    assert dead_pid not in ex.worker_pids()


def test_os_exit_in_a_step_is_lost_with_its_exit_code(make_executor):
    ex = make_executor()
    ex.submit(Task("s", 1, chain(("exit_at", {"at": 2, "code": 3})), items=items(range(5)),
                   careful=True))
    ex.submit(Task("s", 2, chain(("square", {})), items=items(range(5))))
    got = wait_all(ex, 2)
    assert isinstance(got[1], Lost)
    assert (got[1].reason, got[1].offset) == ("worker exited with code 3", 2)
    assert isinstance(got[2], Done)


def test_every_idle_worker_killed_leaves_the_pool_usable(make_executor):
    # An idle worker waits for work holding the task queue's lock; with Pool's own
    # semaphores its death would block every other worker for ever.
    ex = make_executor()
    ex.submit(Task("s", 1, chain(("square", {})), span=Span.of(0, 3, 1)))
    wait_all(ex, 1)
    wait_for(lambda: len(ex.worker_pids()) == 2)
    for _ in range(2):
        old = ex.worker_pids()
        for pid in old:
            faults.kill(pid)
        assert faults.wait_gone(old, 2.0) == []
        for tid in range(10, 14):
            ex.submit(Task("s", tid, chain(("square", {})), span=Span.of(0, 10, 1)))
        got = wait_all(ex, 4)
        assert all(isinstance(c, Done) for c in got.values())


def test_workers_ignore_ctrl_c(make_executor, tmp_path):
    ex = make_executor()
    mark = str(tmp_path / "sleeping")
    ex.submit(Task("s", 1, chain(("sleep_at", {"at": 0, "seconds": 0.5, "mark": mark})),
                   items=items([0, 1])))
    wait_for(lambda: os.path.exists(mark))
    for pid in ex.worker_pids():
        faults.kill(pid, signal.SIGINT)
    got = wait_all(ex, 1)
    assert isinstance(got[1], Done) and got[1].result.values == ((0, 0), (1, 1))


def test_a_result_after_its_task_was_lost_is_ignored(make_executor, tmp_path):
    ex = make_executor()
    mark = str(tmp_path / "running")
    ex.submit(Task("s", 1, chain(("sleep_at", {"seconds": 0.5, "mark": mark})), items=items([0])))
    wait_for(lambda: os.path.exists(mark))
    [job] = ex.jobs()
    assert ex.lose(job.seq, None, "given up on")
    assert not ex.lose(job.seq, None, "twice")
    time.sleep(0.8)  # the worker finishes and sends its result meanwhile
    got = ex.poll(0.1)
    assert [(type(c).__name__, getattr(c, "reason", "")) for c in got] == [("Lost", "given up on")]
    assert ex.poll(0.3) == []


def test_worker_dying_as_it_unpickles_its_task_loses_only_that_task(make_executor):
    ex = make_executor()
    ex.submit(Task("s", 1, chain(("square", {})), items=((0, faults.DieOnLoad(), ()),)))
    ex.submit(Task("s", 2, chain(("square", {})), span=Span.of(0, 5, 1)))
    got = wait_all(ex, 2)
    assert isinstance(got[1], Lost) and got[1].offset is None
    assert got[1].reason == "worker killed by SIGKILL"
    assert isinstance(got[2], Done)


def test_worker_dying_as_it_takes_a_task_does_not_hang_it(make_executor):
    # Killed after reading the task from the queue, before saying so in its slot:
    # nothing says which task it held; the monitor infers it after a grace.
    ex = make_executor()
    ex.submit(Task("s", faults.DieOnLoadInt(1), chain(("square", {})), span=Span.of(0, 3, 1)))
    ex.submit(Task("s", 2, chain(("square", {})), span=Span.of(0, 5, 1)))
    got = wait_all(ex, 2, timeout=9.0)
    assert isinstance(got[1], Lost) and got[1].offset is None
    assert got[1].reason == "worker died as it took the task"
    assert isinstance(got[2], Done)


def test_worker_dying_while_sending_its_result_is_lost_not_waited_for(make_executor):
    ex = make_executor()
    ex.submit(Task("s", 1, chain(("die_on_pickle_at", {"at": 1})), items=items(range(3))))
    got = wait_all(ex, 1)
    assert isinstance(got[1], Lost)
    assert got[1].reason == "worker killed by SIGKILL while sending its result"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_broken_result_pipe_loses_running_tasks_and_a_new_pool_takes_over(make_executor):
    ex = make_executor()
    ex.submit(Task("s", 1, chain(("corrupt_results", {"at": 0}), ("sleep_at", {"seconds": 0.3})),
                   items=items([0, 1])))
    got = wait_all(ex, 1)
    assert isinstance(got[1], Lost) and "worker pool failed" in got[1].reason
    ex.submit(Task("s", 2, chain(("square", {})), span=Span.of(0, 4, 1)))
    assert wait_all(ex, 1)[2].result.values == ((0, 0), (1, 1), (2, 4), (3, 9))


# -- 4. timeouts ----------------------------------------------------------------------------------

def test_three_hung_items_with_timeout_1_end_in_a_few_seconds(make_executor):
    ex = make_executor()
    t0 = time.monotonic()
    for tid in range(3):
        ex.submit(Task("s", tid, chain(("spin_at" if tid else "sleep_at", {"seconds": 30}),
                                       timeout=1), items=items([tid])))
    ex.submit(Task("s", 9, chain(("square", {})), span=Span.of(0, 3, 1)))
    got = wait_all(ex, 4)
    took = time.monotonic() - t0
    assert all(isinstance(got[t], Lost) and got[t].timed_out for t in range(3))
    assert isinstance(got[9], Done)
    print(f"three 30 s items with timeout 1 s on 2 workers: {took:.2f} s")
    assert took < 4.0


# -- 5, 6. exceptions and results that do not travel ----------------------------------------------

def test_a_big_result_that_cannot_be_read_back_fails_its_task_without_a_hang(make_executor):
    ex = make_executor(workers=1)
    many = list(range(20_000)) + [1]  # too big to check in the worker: checked in the parent
    ex.submit(Task("s", 1, chain(("odd_value_at", {"kind": "odd_exception", "at": 1})),
                   items=items(many)))
    ex.submit(Task("s", 2, chain(("square", {})), span=Span.of(0, 3, 1)))
    got = wait_all(ex, 2)
    assert isinstance(got[1], Done) and not got[1].result.values
    assert len(got[1].result.failures) == len(many)
    assert got[1].result.failures[0].reason.startswith("result could not be read back: TypeError")
    assert got[2].result.values == ((0, 0), (1, 1), (2, 4))


# -- 7. memory cap and recycling ------------------------------------------------------------------

def test_a_step_past_the_memory_cap_fails_out_of_memory(make_executor):
    ex = make_executor(workers=1, worker_memory_mb=400)
    ex.submit(Task("s", 1, chain(("allocate", {"mb": 2048, "at": 1})), items=items([0, 1, 2])))
    ex.submit(Task("s", 2, chain(("allocate", {"mb": 50})), items=items([5])))
    got = wait_all(ex, 2)
    assert got[1].result.values == ((0, 0), (2, 2))
    [failure] = got[1].result.failures
    assert (failure.offset, failure.reason) == (1, "out of memory")
    assert got[2].result.values == ((0, 5),)  # under the cap: fine


def test_workers_are_recycled_after_max_tasks(make_executor):
    ex = make_executor(workers=1, max_tasks_per_worker=2)
    for tid in range(6):
        ex.submit(Task("s", tid, chain(("pid", {})), span=Span.of(0, 1, 1)))
    got = wait_all(ex, 6)
    pids = [got[t].result.values[0][1] for t in range(6)]
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4] == pids[5]
    assert len(set(pids)) == 3


# -- 8. cancel and close --------------------------------------------------------------------------

def test_close_with_tasks_still_running_ends_them(make_executor, tmp_path):
    ex = make_executor()
    mark = str(tmp_path / "sleeping")
    ex.submit(Task("s", 1, chain(("sleep_at", {"seconds": 60, "mark": mark})), items=items([1])))
    wait_for(lambda: os.path.exists(mark) and len(ex.worker_pids()) == 2)
    pids = ex.worker_pids()
    t0 = time.monotonic()
    ex.close()
    assert time.monotonic() - t0 < 1.1
    assert faults.wait_gone(pids, 0.5) == []


# -- 9. flow itself killed ------------------------------------------------------------------------

PARENT_SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    sys.path.insert(0, {root!r})
    from runner.execute.base import Chain, ChainStep, ExecutorOptions, Task
    from runner.execute.local.executor import LocalExecutor
    from {module} import import_root, parent_of, ref

    if __name__ == "__main__":
        ex = LocalExecutor()
        ex.start(ExecutorOptions(workers=2, extra_paths=(import_root(),)))
        if sys.argv[1:] == ["--just-start"]:
            ex.close()
            sys.exit()
        step = ChainStep("sleep", ref("sleep_at"), "map", (("seconds", 60), ("mark", "")))
        for tid in range(3):
            ex.submit(Task("s", tid, Chain((step,)), items=((0, tid, ()),)))
        while len(ex.worker_pids()) < 2:
            time.sleep(0.01)
        time.sleep(0.3)  # both workers inside their 60 s items
        pids = ex.worker_pids()
        print(json.dumps({{"workers": pids, "forkserver": parent_of(pids[0])}}), flush=True)
        time.sleep(60)
""")


def test_workers_and_fork_server_die_with_a_sigkilled_flow(tmp_path):
    root = faults.import_root()
    script = tmp_path / "parent.py"
    script.write_text(PARENT_SCRIPT.format(root=root, module=faults.MODULE))
    tmp = tmp_path / "tmp"  # its own temp folder, to see what it leaves there
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            cwd=tmp_path, env=env)
    try:
        line = proc.stdout.readline()
        info = json.loads(line)
        pids = [*info["workers"], info["forkserver"]]
        assert len(pids) == 3 and all(not faults.pid_gone(p) for p in pids)
        # Also the resource tracker, and whatever else flow started.
        pids = sorted({*pids, *faults.descendants_of(proc.pid)})
        t0 = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        left = faults.wait_gone(pids, 5.0)
        print(f"workers and fork server gone {time.monotonic() - t0:.2f} s after flow's SIGKILL")
        assert left == []
        # Its lock folder (empty files) is swept by the next flow that starts a pool.
        # (multiprocessing's own pymp-* folder of the fork server is left too: not ours)
        assert [p.name.split("-")[2] for p in tmp.glob("flow-pool-*")] == [str(proc.pid)]
        subprocess.run([sys.executable, str(script), "--just-start"], env=env, timeout=30,
                       check=True)
        assert list(tmp.glob("flow-pool-*")) == []
    finally:
        proc.kill()
        proc.wait()


BROKEN_MAIN = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {root!r})
    if __name__ == "__mp_main__":  # how a worker imports its parent's script: it dies there
        os._exit(3)
    from runner.execute.base import Chain, ChainStep, ExecutorOptions, Task
    from runner.execute.local.executor import LocalExecutor
    from runner.execute.span import Span
    from {module} import import_root, ref

    if __name__ == "__main__":
        with LocalExecutor() as ex:
            ex.start(ExecutorOptions(workers=2, extra_paths=(import_root(),)))
            step = ChainStep("sq", ref("square"), "map")
            task = Task("s", 1, Chain((step,)), span=Span.of(0, 3, 1))
            for _ in range(2):
                ex.submit(task)
                print(ex.poll(20)[0].reason, flush=True)
""")


LEFT_RUNNING = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {root!r})
    from runner.execute.base import Chain, ChainStep, ExecutorOptions, Task
    from runner.execute.local.executor import LocalExecutor
    from {module} import import_root, ref

    if __name__ == "__main__":
        ex = LocalExecutor()
        ex.start(ExecutorOptions(workers=2, extra_paths=(import_root(),)))
        step = ChainStep("sleep", ref("sleep_at"), "map", (("seconds", 60),))
        ex.submit(Task("s", 1, Chain((step,)), items=((0, 1, ()),)))
        print(json.dumps(ex.worker_pids()), flush=True)
        # returns without close(): the atexit hook must end the workers
""")


def test_an_executor_left_running_is_ended_at_exit(tmp_path):
    script = tmp_path / "left_running.py"
    script.write_text(LEFT_RUNNING.format(root=faults.import_root(), module=faults.MODULE))
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=30, cwd=tmp_path)
    assert time.monotonic() - t0 < 5
    pids = json.loads(out.stdout)
    assert len(pids) == 2 and faults.wait_gone(pids, 1.0) == []


def test_workers_that_cannot_start_fail_tasks_instead_of_hanging(tmp_path):
    script = tmp_path / "broken_main.py"
    script.write_text(BROKEN_MAIN.format(root=faults.import_root(), module=faults.MODULE))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=30, cwd=tmp_path)
    assert out.stdout.splitlines() == ["workers fail to start (worker exited with code 3)"] * 2


def test_death_reasons_read_as_a_user_expects():
    assert death_reason(-9) == "worker killed by SIGKILL"
    assert death_reason(-11) == "worker killed by SIGSEGV"
    assert death_reason(3) == "worker exited with code 3"
