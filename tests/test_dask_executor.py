"""The Dask executor (SPEC section 5): what it does beyond the executor contract (which
``test_executor_contract.py`` checks on a real LocalCluster), and the real `flow` command
with ``--executor dask`` giving what the local executor gives.

Skipped when dask.distributed is not installed (``pip install ".[dask]"`` brings it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

pytest.importorskip("distributed")

from runner.execute.base import ExecutorOptions, Task
from runner.execute.dask.executor import DaskExecutor
from tests import faults
from tests.conftest import REPO, make_photos, run_flow
from tests.executor_kit import chain, items, wait_all

# -- capacity: what the scheduler reports --------------------------------------------------

def test_capacity_follows_the_threads_the_scheduler_reports(tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, threads_per_worker=2, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        ex = DaskExecutor(cluster.scheduler_address)
        ex.start(ExecutorOptions(workers=3, extra_paths=(faults.import_root(),)))
        try:
            assert ex.capacity() == 6  # no worker yet: two tasks per worker asked for
            cluster.scale(2)  # two workers of two threads join
            end = time.monotonic() + 20
            while ex.capacity() != 8:
                assert time.monotonic() < end, f"capacity stayed {ex.capacity()}"
                time.sleep(0.1)
            ex.submit(Task("s", 1, chain(("square", {})), items=items(range(4))))
            assert wait_all(ex, 1, timeout=15.0)[1].result.values == \
                tuple((i, i * i) for i in range(4))
        finally:
            ex.close()


# -- the flow command ------------------------------------------------------------------

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


def test_images_on_dask_match_local_byte_for_byte(tmp_path):
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
    failures = json.loads((tmp_path / "report.json").read_text())["failures"]
    assert [(f["item"], f["reason"]) for f in failures] == [("item 7 (7)", "worker died")]
    assert json.loads((tmp_path / "tripled.json").read_text()) == \
        [3 * i for i in range(20) if i != 7]


def test_scheduler_address_runs_on_that_cluster_and_a_death_costs_one_worker(tmp_path):
    from distributed import LocalCluster

    faults.beside(tmp_path)
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
    uses: py:tests.faults:pid
  - id: out
    uses: io.write
    with: {to: pids.json, as_list: true}
""")
    # That cluster keeps Dask's default allowed-failures (3): the scheduler would rerun the
    # killing task on the other worker, and kill it too, but flow refuses the rerun.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        before = set(faults.descendants_of(os.getpid()))
        res = run_flow("run", "wf.yaml", "--executor", "dask", "--scheduler",
                       cluster.scheduler_address, "--report", "report.json", "--no-live",
                       cwd=tmp_path, timeout=60)
        after = set(faults.descendants_of(os.getpid()))
        assert res.returncode == 1, res.stdout + res.stderr
        assert "(dask)" in res.stdout and "Traceback" not in res.stderr
    failures = json.loads((tmp_path / "report.json").read_text())["failures"]
    assert [(f["item"], f["reason"]) for f in failures] == [("item 30 (30)", "worker died")]
    # Its workers (children of this process) ran every other item; one of them was replaced.
    pids = json.loads((tmp_path / "pids.json").read_text())
    assert len(pids) == 39 and set(pids) <= before | after, (pids, before, after)
    assert len(before - after) == 1, (before, after)


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
