"""Steps that fork, spawn, stop themselves: flow's results and processes stay its own.

Every run here is the real ``flow`` command with a marker in its environment; every
process it starts inherits the marker, so whatever outlives the run is found
wherever it was reparented to (PID 1 here does not reap orphans, so only live
processes, not zombies, count as left behind; flow's own children must be reaped
by flow: see :func:`zombies_of`).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.faults import children_of
from tests.hostile_kit import (
    cmdline,
    finish,
    live_with_marker,
    marker_fixture,  # noqa: F401 - the fixture 'marker'
    start,
    wait_for,
    write,
)
from tests.timing import limit

FORKY = '''\
import os


def fork_at(value: int, at: int = 21) -> int:
    """Fork on one item; the child carries on as if it were the worker."""
    if value == at:
        os.fork()
    return value


def fork_helper_at(value: int, at: int = 21) -> int:
    """Fork a helper that does its own work and leaves; wait for it."""
    if value == at:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    return value
'''

PARALLEL = {
    "map_range": ("{range: {start: 0, stop: 1250, step: 1}}", "{mode: map, workers: 2}"),
    "map_values": ("{values: [" + ", ".join(map(str, range(1250))) + "]}",
                   "{mode: map, workers: 2, chunksize: 10}"),
    "async": ("{range: {start: 0, stop: 60, step: 1}}", "{mode: async, workers: 2}"),
    "serial": ("{range: {start: 0, stop: 1250, step: 1}}", "{mode: serial}"),
}


def run_marked(cwd: Path, marker: str, *args: str, timeout: float = 60):
    proc = start(cwd, "run", *args, marker=marker)
    out, err = finish(proc, timeout, marker)
    return proc, out, err


@pytest.mark.timing
@pytest.mark.parametrize("case", sorted(PARALLEL))
@pytest.mark.parametrize("step", ["fork_at", "fork_helper_at"])
def test_a_step_that_forks_still_gives_one_value_per_item(tmp_path, marker, case, step):
    source, parallel = PARALLEL[case]
    n = 60 if case == "async" else 1250
    write(tmp_path, "forky.py", FORKY)
    write(tmp_path, "wf.yaml", f"""\
flow: 1
name: forky
inputs:
  xs: {source}
steps:
  - id: f
    from: xs
    uses: py:forky:{step}
    parallel: {parallel}
  - id: total
    uses: numeric.sum
  - id: count
    from: f
    uses: numeric.stats
""")
    t0 = time.monotonic()
    proc, out, err = run_marked(tmp_path, marker, "wf.yaml", "--no-live")
    took = time.monotonic() - t0
    print(f"\n[timing] {case} with {step}: {took:.2f} s")
    assert proc.returncode == 0, out + err
    assert f"total: {sum(range(n))}" in out, out
    # One summary: no second flow carried on in a forked child of flow itself.
    assert [ln for ln in out.splitlines() if ln.startswith("forky: ")] == \
        [ln for ln in out.splitlines() if ln.startswith("forky: done")][:1], out
    assert "Traceback" not in out + err
    assert live_with_marker(marker) == []
    assert took < limit(2.5)  # no worker waited for: see the next test


def test_a_forked_child_never_reaches_the_pool(tmp_path, marker):
    """The child of a fork in a worker would otherwise go on taking tasks from the
    queue and eat the stop signal meant for a real worker: closing the pool then
    waits out its grace time."""
    write(tmp_path, "forky.py", FORKY)
    write(tmp_path, "wf.yaml", """\
flow: 1
name: forky
inputs:
  xs: {range: {start: 0, stop: 40, step: 1}}
steps:
  - id: f
    from: xs
    uses: py:forky:fork_at
    with: {at: 3}
    parallel: {mode: async, workers: 2}
""")
    t0 = time.monotonic()
    proc, out, err = run_marked(tmp_path, marker, "wf.yaml", "--no-live")
    took = time.monotonic() - t0
    assert proc.returncode == 0, out + err
    assert took < limit(2.5), f"{took:.2f} s"
    assert live_with_marker(marker) == []


SPAWNY = '''\
import os
import subprocess
import time


def spawn(value, mark=None, nap=0.3):
    """Start a long process and leave it running (never waited for)."""
    subprocess.Popen(["sleep", "1000"])
    if mark:
        open(mark, "w").close()
    time.sleep(nap)
    return value


def daemon(value, mark=None, at=0, nap=0.3):
    """Start a double-forked daemon, in a session of its own, holding what it inherited."""
    if value == at:
        pid = os.fork()
        if pid == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(1000)
            os._exit(0)
        os.waitpid(pid, 0)
    if mark:
        open(mark, "w").close()
    time.sleep(nap)
    return value
'''


def spawning_run(tmp_path: Path, marker: str, step: str, parallel: str, nap: float,
                 ctrl_c: bool = False):
    """Run a workflow whose step leaves processes behind; Ctrl-C it mid-run if asked.
    Returns (the process, its output, flow's children seen mid-run)."""
    mark = tmp_path / "running.mark"
    write(tmp_path, "spawny.py", SPAWNY)
    write(tmp_path, "wf.yaml", f"""\
flow: 1
name: spawny
inputs:
  xs: {{range: {{start: 0, stop: 8, step: 1}}}}
steps:
  - id: s
    from: xs
    uses: py:spawny:{step}
    with: {{mark: "{mark}", nap: {nap}}}
    parallel: {parallel}
""")
    proc = start(tmp_path, "run", "wf.yaml", "--no-live", marker=marker)
    assert wait_for(mark.exists, 30, proc), finish(proc, 1, marker)
    time.sleep(0.2)
    kids = children_of(proc.pid)  # the fork server, the resource tracker ...
    if ctrl_c:
        os.killpg(proc.pid, signal.SIGINT)
    out, err = finish(proc, 60, marker)
    return proc, out + err, kids


def gone_entirely(pids: list[int]) -> list[str]:
    """Those of ``pids`` still in the process table (alive, or a zombie nobody reaped)."""
    return [f"{p}: {cmdline(p) or '(zombie)'}" for p in pids if Path(f"/proc/{p}").exists()]


@pytest.mark.parametrize("step, parallel", [
    ("spawn", "{mode: map, workers: 2, chunksize: 1}"),
    ("spawn", "{mode: async, workers: 2}"),
    ("spawn", "{mode: serial}"),
    ("daemon", "{mode: map, workers: 2, chunksize: 1}"),
])
def test_processes_a_step_starts_end_with_the_run(tmp_path, marker, step, parallel):
    proc, text, kids = spawning_run(tmp_path, marker, step, parallel, nap=0.3)
    assert proc.returncode == 0, text
    assert live_with_marker(marker) == []
    assert gone_entirely(kids) == [], kids  # flow reaped its fork server and tracker


@pytest.mark.parametrize("step", ["spawn", "daemon"])
def test_processes_a_step_starts_end_on_ctrl_c(tmp_path, marker, step):
    proc, text, kids = spawning_run(tmp_path, marker, step, "{mode: map, workers: 2}",
                                    nap=30, ctrl_c=True)
    assert proc.returncode == 130, text
    assert "Traceback" not in text, text
    assert live_with_marker(marker) == []
    assert gone_entirely(kids) == [], kids
