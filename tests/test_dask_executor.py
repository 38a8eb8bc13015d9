"""The Dask executor (SPEC section 5): what it does beyond the executor contract (which
``test_executor_contract.py`` checks on a LocalCluster and on real processes), with the
real `flow` command: on flow's own local cluster, and on a cluster of real ``dask
scheduler`` and ``dask worker`` processes started once for this module, each worker with
its own temporary folder and pid namespace as on another machine (only the working
directory is shared), so workers are told apart by their addresses.

Skipped when dask.distributed is not installed (``pip install ".[dask]"`` brings it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from runner.execute.base import Done, ExecutorOptions, Lost, Task
from runner.execute.dask.executor import DaskExecutor
from tests import faults
from tests.conftest import REPO, make_photos, run_flow
from tests.dask_procs import ProcCluster
from tests.executor_kit import chain, items, wait_all, wait_for
from tests.test_e2e_faults import running_flow, start_flow, wait_session_empty
from tests.timing import limit

# Steps for a test's workflow folder: ``gate`` holds items from ``at`` on until the file
# ``path`` exists (the test then does something to the cluster while every worker is busy;
# each worker that waits there says so with a file), ``where`` is the worker's address.
STEPS = """\
import os, time

def _me():
    from distributed import get_worker
    return get_worker().address

def gate(value, path, at=0):
    if value >= at and not os.path.exists(path):
        open(f"{path}.waiting." + _me().encode().hex(), "w").close()
        while not os.path.exists(path):
            time.sleep(0.02)
    return value

def where(value):
    return _me()
"""


@pytest.fixture(scope="module")
def procs(tmp_path_factory: pytest.TempPathFactory):
    cluster = ProcCluster(tmp_path_factory.mktemp("procs"), workers=2, own_tmp=True,
                          own_pids=True)
    yield cluster
    cluster.close()


@pytest.fixture
def cluster(procs: ProcCluster) -> ProcCluster:
    """The module's cluster with its two workers (a test before may have ended one)."""
    procs.ensure(2)
    return procs


def gated_wf(folder: Path, count: int, at: int) -> None:
    """``count`` numbers through the gate (items from ``at`` on wait for ``folder/go``),
    then each replaced by the address of the worker that ran it, written to where.json."""
    (folder / "helpers.py").write_text(STEPS)
    (folder / "wf.yaml").write_text(f"""\
flow: 1
name: gated
inputs:
  xs: {{values: {list(range(count))}}}
steps:
  - id: wait
    from: xs
    uses: py:helpers:gate
    with: {{path: "{folder / 'go'}", at: {at}}}
    parallel: {{chunksize: 1}}
  - id: who
    uses: py:helpers:where
  - id: out
    uses: io.write
    with: {{to: where.json, as_list: true}}
""")


def start_gated(folder: Path, *args: str) -> subprocess.Popen:
    return start_flow(folder, "wf.yaml", "--no-live", "--report", "report.json", *args)


def at_gate(folder: Path, count: int) -> set[str]:
    """Wait until ``count`` workers hold an item at the gate; their addresses."""
    def waiting() -> set[str]:
        return {bytes.fromhex(p.name.rpartition(".")[2]).decode()
                for p in folder.glob("go.waiting.*")}
    wait_for(lambda: len(waiting()) >= count, timeout=30.0)
    return waiting()


def ran_on(folder: Path) -> list[str]:
    return json.loads((folder / "where.json").read_text())


def failures(folder: Path) -> list[tuple[str, str]]:
    return [(f["item"], f["reason"])
            for f in json.loads((folder / "report.json").read_text())["failures"]]


# -- capacity: what the scheduler reports, as workers join and leave ------------------------

def test_capacity_follows_workers_that_join_and_leave(cluster):
    ex = DaskExecutor(cluster.address)
    ex.start(ExecutorOptions(workers=5, extra_paths=(faults.import_root(),)))
    try:
        assert ex.capacity() == 4  # two workers of one thread: one task running, one waiting
        joined = cluster.add_worker()
        wait_for(lambda: ex.capacity() == 6, timeout=10.0)
        # Tasks of 0.2 s each: one at a time is enough to keep Dask's overhead small.
        ex.submit(Task("s", 1, chain(("sleep_at", {"seconds": 0.05}), ("square", {})),
                       items=items(range(4))))
        assert wait_all(ex, 1, timeout=15.0)[1].result.values == \
            tuple((i, i * i) for i in range(4))
        cluster.kill_whole(joined)
        wait_for(lambda: ex.capacity() == 4, timeout=10.0)
    finally:
        ex.close()


def test_small_tasks_share_dask_tasks_so_its_overhead_stays_small(cluster):
    from distributed import get_task_stream

    ex = DaskExecutor(cluster.address)
    ex.start(ExecutorOptions(workers=2, extra_paths=(faults.import_root(),)))
    try:
        def run(first: int, count: int) -> None:
            for tid in range(first, first + count):
                ex.submit(Task("s", tid, chain(("square", {})), items=items([tid, -tid])))
            got = wait_all(ex, count, timeout=30.0)
            assert all(c.result.values == ((0, tid * tid), (1, tid * tid))
                       for tid, c in got.items())

        run(0, 4)  # what a task of this stage costs: microseconds
        assert ex.capacity() > 4  # so more of them are taken at once...
        with get_task_stream(client=cluster.client) as stream:
            for first in range(100, 400, 100):
                run(first, 100)
        assert len(stream.data) < 300 / 5, len(stream.data)  # ...in far fewer Dask tasks
    finally:
        ex.close()


def test_a_worker_that_joins_mid_run_takes_work(cluster, tmp_path):
    gated_wf(tmp_path, count=16, at=0)
    before = cluster.addresses()
    proc = start_gated(tmp_path, "--scheduler", cluster.address)
    try:
        at_gate(tmp_path, 2)  # both workers hold an item at the gate
        joined = cluster.add_worker()
        [newcomer] = cluster.addresses() - before
        assert newcomer in at_gate(tmp_path, 3)  # flow saw the threads grow, sent it work
        (tmp_path / "go").touch()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        (tmp_path / "go").touch()  # whatever happened, no item of it holds a worker
    assert proc.returncode == 0, out + err
    assert len(ran_on(tmp_path)) == 16 and newcomer in ran_on(tmp_path)
    cluster.kill_whole(joined)  # back to two


def test_a_worker_that_leaves_mid_run_loses_nothing(cluster, tmp_path):
    gated_wf(tmp_path, count=12, at=0)
    proc = start_gated(tmp_path, "--scheduler", cluster.address)
    try:
        at_gate(tmp_path, 2)
        cluster.kill_whole(cluster.live()[0])  # worker and nanny: gone, nobody tells flow why
        (tmp_path / "go").touch()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        (tmp_path / "go").touch()  # whatever happened, no item of it holds a worker
    assert proc.returncode == 0, out + err
    assert failures(tmp_path) == []
    assert len(ran_on(tmp_path)) == 12  # its items ran again on the other worker


# -- deaths and timeouts, named exactly, on workers that share nothing but the workdir -------

def test_a_killed_worker_fails_its_item_and_costs_one_worker(cluster, tmp_path):
    faults.beside(tmp_path)  # py: reaches only the workflow's folder
    (tmp_path / "wf.yaml").write_text("""\
flow: 1
name: where
inputs:
  xs: {range: {start: 0, stop: 40}}
steps:
  - id: die
    from: xs
    uses: py:tests.faults:kill_at
    with: {at: 30}
  - id: who
    uses: py:helpers:where
  - id: out
    uses: io.write
    with: {to: where.json, as_list: true}
""")
    (tmp_path / "helpers.py").write_text(STEPS)
    before = cluster.addresses()
    # The scheduler keeps Dask's default allowed-failures (3): it would rerun the killing
    # task on the other worker, and kill it too, but flow's marker refuses the rerun.
    res = run_flow("run", "wf.yaml", "--scheduler", cluster.address, "--report",
                   "report.json", "--no-live", cwd=tmp_path, timeout=60)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "(dask)" in res.stdout and "Traceback" not in res.stderr
    assert failures(tmp_path) == [("item 30 (30)", "worker died")]
    cluster.wait_workers(2)
    after = cluster.addresses()
    assert len(ran_on(tmp_path)) == 39 and set(ran_on(tmp_path)) <= before | after
    assert len(before - after) == 1, (before, after)  # its nanny started it again


@pytest.mark.timing
def test_a_timeout_on_a_remote_style_worker_restarts_it_and_names_the_item(cluster, tmp_path):
    faults.beside(tmp_path)  # py: reaches only the workflow's folder
    (tmp_path / "wf.yaml").write_text("""\
flow: 1
name: hang
inputs:
  xs: {range: {start: 0, stop: 12}}
steps:
  - id: hang
    from: xs
    uses: py:tests.faults:sleep_at
    with: {at: 5, seconds: 60}
    timeout: 1
  - id: who
    uses: py:helpers:where
  - id: out
    uses: io.write
    with: {to: where.json, as_list: true}
""")
    (tmp_path / "helpers.py").write_text(STEPS)
    before = cluster.addresses()
    t0 = time.monotonic()
    res = run_flow("run", "wf.yaml", "--scheduler", cluster.address, "--report",
                   "report.json", "--no-live", cwd=tmp_path, timeout=60)
    took = time.monotonic() - t0
    print(f"\n[timing] a 60 s item with timeout 1 s on a remote-style worker: run {took:.2f} s")
    assert res.returncode == 1, res.stdout + res.stderr
    assert failures(tmp_path) == [("item 5 (5)", "timed out after 1 s")]
    assert len(ran_on(tmp_path)) == 11
    assert took < limit(10.0)
    cluster.wait_workers(2)
    assert len(before - cluster.addresses()) == 1  # the hung one was restarted


def test_a_timeout_on_a_two_thread_worker_spares_the_item_of_the_other_thread(tmp_path):
    cluster = ProcCluster(tmp_path / "two", workers=1, nthreads=2)
    ex = DaskExecutor(cluster.address)
    try:
        ex.start(ExecutorOptions(workers=2, extra_paths=(faults.import_root(),)))
        ex.submit(Task("s", 1, chain(("sleep_at", {"seconds": 60}), timeout=1),
                       items=items([0])))
        ex.submit(Task("s", 2, chain(("sleep_at", {"seconds": 0.5}), ("square", {}),
                                     timeout=5), items=items([3, 4, 5])))
        got = wait_all(ex, 2, timeout=30.0)
        assert isinstance(got[1], Lost) and got[1].timed_out and got[1].offset == 0
        # Its neighbour was ended with the worker, through no fault of its own: it ran again.
        assert isinstance(got[2], Done) and got[2].result.values == ((0, 9), (1, 16), (2, 25))
    finally:
        ex.close()
        cluster.close()


def test_a_task_run_again_after_it_wrote_leaves_the_right_whole_output(cluster, tmp_path):
    make_photos(tmp_path / "photos", count=4, size=(320, 240))
    (tmp_path / "once.py").write_text("""\
import os, signal

def die_once(value, flag):
    try:
        os.close(os.open(flag, os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return value
    os.kill(os.getpid(), signal.SIGKILL)  # after the item's output was written
""")
    for where, args in (("local", ()), ("dask", ("--scheduler", cluster.address))):
        (tmp_path / f"{where}.yaml").write_text(f"""\
flow: 1
name: twice
inputs:
  photos: {{glob: "photos/*.jpg"}}
steps:
  - id: shrink
    from: photos
    uses: image.thumbnail
    with: {{size: 64}}
  - id: save
    uses: image.save
    with: {{to: "{where}/{{stem}}.jpg"}}
  - id: die
    uses: py:once:die_once
    with: {{flag: "{tmp_path / where}.flag"}}
    retries: 1
""")
        res = run_flow("run", f"{where}.yaml", *args, "--no-live", cwd=tmp_path, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr
        assert (tmp_path / f"{where}.flag").exists()  # one item's worker was killed once
    local = sorted((tmp_path / "local").iterdir())
    assert len(local) == 4 and [p.name for p in (tmp_path / "dask").iterdir()
                                if p.name.startswith(".")] == []
    for p in local:
        assert (tmp_path / "dask" / p.name).read_bytes() == p.read_bytes()


# -- a stalled item, named as on the local pool ----------------------------------------------

@pytest.mark.timing
@pytest.mark.parametrize("where", ["own", "cluster"])
def test_an_item_running_far_longer_than_the_others_is_named_while_it_runs(
        request, tmp_path, where):
    """No timeout: the live table's notice names the stuck item, on flow's own cluster and
    on workers that share nothing with flow but the working directory."""
    from tests.test_hostile_stalls import STALL_WF, STEPS

    (tmp_path / "stopper.py").write_text(STEPS)  # item 17 takes 4 s, the others 0.01 s
    (tmp_path / "wf.yaml").write_text(STALL_WF)
    on = ["--executor", "dask"] if where == "own" else \
        ["--scheduler", request.getfixturevalue("cluster").address]
    res = run_flow("run", "wf.yaml", *on, "--json", cwd=tmp_path, timeout=90)
    assert res.returncode == 0, res.stdout + res.stderr
    evs = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    stalled = [e for e in evs if e["event"] == "item_stalled"]
    assert [(e["item"], e["over"]) for e in stalled] == \
        [("item 17 (17)", False), ("item 17 (17)", True)], stalled
    first, last = stalled
    assert 1.9 <= first["seconds"] < 4.0 and first["typical"] < 0.5, first
    assert last["seconds"] >= 3.9, last
    ended = next(e["t"] for e in evs if e["event"] == "run_finished")
    assert first["t"] < ended - 1.0  # seen while it ran, not only at the end


# -- flow's nanny plugin: one per run, gone with the run ------------------------------------

def flow_plugins(cluster: ProcCluster) -> list[str]:
    """The names of flow's nanny plugins the scheduler holds now."""
    names = cluster.client.run_on_scheduler(lambda dask_scheduler: list(
        dask_scheduler.nanny_plugins))
    return [n for n in names if n.startswith("flow-")]


def test_a_run_on_a_cluster_leaves_no_plugin_and_the_next_run_works(cluster, tmp_path):
    assert flow_plugins(cluster) == []
    shutil.copy(REPO / "workflows" / "squares.yaml", tmp_path / "squares.yaml")
    for n in (1000, 2000):
        res = run_flow("run", "squares.yaml", "-p", f"n={n}", "--scheduler", cluster.address,
                       "--no-live", cwd=tmp_path, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr
        assert json.loads((tmp_path / "build" / "squares" / "sum.json").read_text()) == \
            sum(i * i for i in range(n))
        assert flow_plugins(cluster) == []


# -- Ctrl-C ---------------------------------------------------------------------------------

@pytest.mark.timing
@pytest.mark.parametrize("when", ["starting", "running"])
def test_ctrl_c_on_flows_own_cluster_exits_130_fast_and_leaves_no_process(tmp_path, when):
    gated_wf(tmp_path, count=8, at=0)
    with running_flow(tmp_path, "wf.yaml", "--executor", "dask", "--no-live") as proc:
        if when == "starting":  # its first processes are there: the cluster is starting
            wait_for(lambda: len(faults.descendants_of(proc.pid)) >= 1, timeout=30.0)
        else:
            wait_for(lambda: len(faults.descendants_of(proc.pid)) >= 3, timeout=30.0)
            time.sleep(1.0)  # its workers hold items at the gate
        sent = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        out, err = proc.communicate(timeout=10)
        took = time.monotonic() - sent
        left = wait_session_empty(proc.pid, max(0.1, limit(2.0) - took))
    print(f"\n[timing] Ctrl-C on flow's own Dask cluster ({when}) to exit: {took:.2f} s")
    assert proc.returncode == 130, out + err
    assert took < limit(2.0)
    assert left == []
    assert "Traceback" not in out + err
    if when == "starting":
        assert err.strip() == "interrupted", err


@pytest.mark.timing
def test_ctrl_c_on_a_cluster_ends_flows_tasks_and_leaves_it_usable(cluster, tmp_path):
    gated_wf(tmp_path, count=8, at=0)
    proc = start_gated(tmp_path, "--scheduler", cluster.address)
    try:
        held = at_gate(tmp_path, 2)
        sent = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        took = time.monotonic() - sent
    finally:
        proc.kill()
        (tmp_path / "go").touch()  # whatever happened, no item of it holds a worker
    print(f"\n[timing] Ctrl-C on a cluster's run to exit: {took:.2f} s")
    assert proc.returncode == 130, out + err
    assert took < limit(2.0)
    assert "Traceback" not in out + err
    assert flow_plugins(cluster) == []  # its watcher went with it
    # The workers that held flow's tasks were ended (a thread cannot be stopped) and their
    # nannies started new ones: the next run has the whole cluster.
    wait_for(lambda: not held & cluster.addresses(), timeout=limit(2.0))
    cluster.wait_workers(2)
    (tmp_path / "go").touch()
    res = run_flow("run", "wf.yaml", "--scheduler", cluster.address, "--no-live",
                   cwd=tmp_path, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert len(ran_on(tmp_path)) == 8


# -- the flow command on its own cluster ----------------------------------------------------

def test_squares_on_dask_sum_like_local(tmp_path):
    shutil.copy(REPO / "workflows" / "squares.yaml", tmp_path / "squares.yaml")
    sums = {}
    for ex in ("local", "dask"):
        res = run_flow("run", "squares.yaml", "-p", "n=100000", "-p", f"out=build/{ex}",
                       "--executor", ex, "--no-live", cwd=tmp_path, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr
        assert f"({ex})" in res.stdout and "Traceback" not in res.stderr
        sums[ex] = json.loads((tmp_path / "build" / ex / "sum.json").read_text())
    assert sums["dask"] == sums["local"] == sum(i * i for i in range(100000))


def test_images_on_dask_match_local_byte_for_byte_and_rerun_skips(tmp_path):
    photos = make_photos(tmp_path / "photos", count=6, size=(320, 240))
    shutil.copy(REPO / "workflows" / "resize.yaml", tmp_path / "resize.yaml")
    for ex in ("local", "dask"):
        res = run_flow("run", "resize.yaml", "-p", "photos=photos", "-p", "size=64",
                       "-p", f"out=build/{ex}", "--executor", ex, "--no-live", cwd=tmp_path,
                       timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr
    local = sorted((tmp_path / "build" / "local").glob("*.jpg"))
    assert [p.stem for p in local] == sorted(p.stem for p in photos)
    for p in local:
        assert (tmp_path / "build" / "dask" / p.name).read_bytes() == p.read_bytes()
    again = run_flow("run", "resize.yaml", "-p", "photos=photos", "-p", "size=64",
                     "-p", "out=build/dask", "--executor", "dask", "--json", cwd=tmp_path,
                     timeout=60)
    assert again.returncode == 0, again.stdout + again.stderr
    ends = [json.loads(line) for line in again.stdout.splitlines()
            if '"stage_finished"' in line]
    assert ends and all(e["skipped"] == e["done"] + e["skipped"] > 0 for e in ends), ends


def test_py_step_from_the_workflow_folder_and_a_killed_item_on_dask(tmp_path):
    (tmp_path / "mysteps.py").write_text("def triple(value):\n    return value * 3\n")
    faults.beside(tmp_path)
    (tmp_path / "wf.yaml").write_text("""\
flow: 1
name: custom
executor: {kind: dask}
inputs:
  xs: {range: {start: 0, stop: 20}}
steps:
  - id: t
    from: xs
    uses: py:mysteps:triple
  - id: die
    uses: py:tests.faults:kill_at
    with: {at: 21}
  - id: out
    uses: io.write
    with: {to: tripled.json, as_list: true}
""")
    res = run_flow("run", "wf.yaml", "--no-live", "--report", "report.json", cwd=tmp_path,
                   timeout=60)
    assert res.returncode == 1, res.stdout + res.stderr  # the workflow's executor: dask
    assert "(dask)" in res.stdout and "Traceback" not in res.stderr
    assert failures(tmp_path) == [("item 7 (7)", "worker died")]
    assert json.loads((tmp_path / "tripled.json").read_text()) == \
        [3 * i for i in range(20) if i != 7]


def test_without_dask_the_dask_executor_is_a_clear_error(tmp_path):
    shutil.copy(REPO / "workflows" / "squares.yaml", tmp_path / "squares.yaml")
    code = ("import sys; sys.modules['dask'] = sys.modules['distributed'] = None; "
            "from runner.cli import main; raise SystemExit(main(sys.argv[1:]))")
    res = subprocess.run([sys.executable, "-c", code, "run", "squares.yaml", "-p", "n=10",
                          "--executor", "dask", "--no-live"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=30, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert res.returncode == 2, res.stdout + res.stderr
    assert 'the dask executor needs dask: pip install "flow[dask]"' in res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "build").exists()


# -- chunks cut for the cluster's threads, not this machine's CPUs --------------------------

WIDE = """\
import threading, time

_lock = threading.Lock()
_now = 0

def busy(value):
    global _now
    with _lock:
        _now += 1
        peak = _now
    time.sleep(0.15)
    with _lock:
        _now -= 1
    return peak
"""


def test_a_cluster_with_more_threads_than_this_machine_has_cpus_keeps_them_all_busy(
        tmp_path):
    """A range on a cluster of 24 threads (this machine has 2 CPUs) goes out in enough
    tasks for all 24: the peak of items running at once, measured in the worker, is near
    24, not the 16 sub-ranges cut for two CPUs."""
    wide = ProcCluster(tmp_path / "wide", workers=1, nthreads=24)
    try:
        (tmp_path / "wide_steps.py").write_text(WIDE)
        (tmp_path / "wf.yaml").write_text("""\
flow: 1
name: wide
inputs:
  n: {range: {start: 0, stop: 480}}
steps:
  - id: busy
    from: n
    uses: py:wide_steps:busy
  - id: peak
    uses: numeric.max
""")
        res = run_flow("run", "wf.yaml", "--scheduler", wide.address, "--json", cwd=tmp_path,
                       timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr
        ends = [json.loads(line) for line in res.stdout.splitlines()
                if '"run_finished"' in line]
        peak = ends[-1]["result"]["results"]["peak"]
        assert peak >= 20, f"at most {peak} of the cluster's 24 threads ran at once"
    finally:
        wide.close()
