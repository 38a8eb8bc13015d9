"""Ctrl-C at any moment, flow killed, odd arguments, a step that cuts a worker off:
each ends with a one-line reason and the exit code of SPEC 3, never a traceback.

flow is started as a shell starts a foreground job (SIGINT at its default, in a
process group of its own) and Ctrl-C is SIGINT to that whole group, as a terminal
sends it. Workers write to flow's own stderr, so what they print is seen here.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import run_flow
from tests.faults import children_of
from tests.hostile_kit import (
    live_with_marker,
    marker_fixture,  # noqa: F401 - the fixture 'marker'
    start,
    wait_for,
    write,
)
from tests.timing import limit

SLOW = '''\
import time


def slow(value, seconds=0.05):
    """Take a while, and give back a value big enough to take a while to send."""
    time.sleep(seconds)
    return b"x" * 200_000


def close_fds(value, at=3):
    """Close every file descriptor above stderr, as code that daemonises does."""
    import os

    if value == at:
        os.closerange(3, 4096)
    return value
'''

WF = """\
flow: 1
name: slow
inputs:
  xs: {{range: {{start: 0, stop: {n}, step: 1}}}}
steps:
  - id: s
    from: xs
    uses: py:slowsteps:{step}
    parallel: {{mode: async, workers: 2}}
"""


def setup(folder: Path, n: int = 400, step: str = "slow") -> None:
    write(folder, "slowsteps.py", SLOW)
    write(folder, "wf.yaml", WF.format(n=n, step=step))


@pytest.mark.parametrize("args, says", [
    (["--recycle", "-1"], "argument --recycle: expected a whole number of 0 or more, got '-1'"),
    (["-j", "0"], "argument -j/--jobs: expected a whole number of workers, 1 or more; got '0'"),
    (["--worker-memory", "-5"],
     "argument --worker-memory: expected a whole number of 0 or more, got '-5'"),
])
def test_out_of_range_numbers_are_refused_when_arguments_are_read(tmp_path, args, says):
    setup(tmp_path, n=4)
    res = run_flow("run", "wf.yaml", "--no-live", *args, cwd=tmp_path, timeout=60)
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.splitlines()[-1] == f"flow run: error: {says}"
    assert res.stdout == ""


@pytest.mark.timing
def test_a_step_that_closes_the_workers_files_fails_its_item_in_one_line(tmp_path, marker):
    setup(tmp_path, n=10, step="close_fds")
    t0 = time.monotonic()
    proc = start(tmp_path, "run", "wf.yaml", "--no-live", marker=marker)
    out, err = proc.communicate(timeout=60)
    took = time.monotonic() - t0
    assert proc.returncode == 1, out + err
    assert "Traceback" not in out + err, err
    failed = [ln for ln in out.splitlines() if ln.startswith("  item ")]
    assert failed == ["  item 3 (3) at s: the step closed the worker's connection to flow "
                      "(its files)"], out
    assert took < limit(1.5), f"{took:.2f} s: waited for a result that could not come"
    assert live_with_marker(marker) == []


def test_workers_of_a_killed_flow_go_without_a_word(tmp_path, marker):
    """kill -9 while results are on their way: the workers find the pipe broken."""
    setup(tmp_path)
    for delay in (0.8, 1.1, 1.4, 1.7):
        proc = start(tmp_path, "run", "wf.yaml", "--no-live", "--force", marker=marker)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert wait_for(lambda: live_with_marker(marker) == [], limit(5)), \
            live_with_marker(marker)
        _, err = proc.communicate(timeout=10)
        assert err == "", f"after {delay} s: {err[-2000:]}"


def ctrl_c(folder: Path, after: float, marker: str, *args: str) -> tuple[int, str, float]:
    """Start flow; ``after`` s after its first child process appears (the pool's helpers
    are starting: the moment a child's import could be cut short), send Ctrl-C to its
    process group. (exit code, output, seconds from Ctrl-C to exit)."""
    proc = start(folder, "run", "wf.yaml", "--no-live", *args, marker=marker)
    assert wait_for(lambda: children_of(proc.pid), 30, proc, step=0.001), proc.communicate()
    time.sleep(after)
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out + err, time.monotonic() - sent


@pytest.mark.timing
@pytest.mark.parametrize("after", [0.0, 0.02, 0.05, 0.1, 0.2, 0.4, 1.0])
def test_ctrl_c_at_any_moment_of_a_local_run_is_one_line(tmp_path, marker, after):
    setup(tmp_path)
    code, text, took = ctrl_c(tmp_path, after, marker)
    print(f"\n[timing] Ctrl-C {after} s into a local run: exit {code} after {took:.2f} s")
    assert code == 130, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    assert "interrupted" in text, text
    assert took < limit(2.0)
    assert wait_for(lambda: live_with_marker(marker) == [], limit(2)), live_with_marker(marker)


@pytest.mark.timing
@pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                    reason="Dask's distributed is not installed")
@pytest.mark.parametrize("after", [0.0, 0.2, 0.5, 1.0, 2.0])
def test_ctrl_c_at_any_moment_of_a_dask_run_is_one_line(tmp_path, marker, after):
    setup(tmp_path)
    code, text, took = ctrl_c(tmp_path, after, marker, "--executor", "dask")
    print(f"\n[timing] Ctrl-C {after} s into a Dask run: exit {code} after {took:.2f} s")
    assert code == 130, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    assert "interrupted" in text, text
    assert wait_for(lambda: live_with_marker(marker) == [], limit(5)), live_with_marker(marker)
