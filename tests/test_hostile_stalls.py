"""A stuck worker, with no ``timeout`` set: the run never hangs, and a stall shows.

An input swapped for a FIFO after the glob, a step that stops its own process with
SIGSTOP, an item that runs far longer than the others: the real ``flow`` command on
real files and processes.
"""

from __future__ import annotations

import os
import re
import time
from concurrent.futures import Future
from pathlib import Path

import pytest

from tests.conftest import side_by_side
from tests.hostile_kit import (
    events,
    finish,
    kill_marked,
    live_with_marker,
    make_photo,
    marker_fixture,  # noqa: F401 - the fixture 'marker'
    new_marker,
    start,
    wait_for,
    write,
)
from tests.timing import limit

STEPS = '''\
import os
import signal
import time


def stop_self(value, at=3, times=1):
    """SIGSTOP this process at one item (``times`` times over)."""
    if value == at:
        for _ in range(times):
            os.kill(os.getpid(), signal.SIGSTOP)
    return value


def slow_at(value, at=17, seconds=4.0, nap=0.01):
    """Each item takes ``nap`` s; one takes ``seconds``."""
    time.sleep(seconds if value == at else nap)
    return value
'''


@pytest.mark.timing
def test_an_input_swapped_for_a_fifo_fails_alone_instead_of_hanging(tmp_path, marker):
    for i in range(16):
        make_photo(tmp_path / "photos" / f"p{i:02d}.jpg", (120, 90), seed=i)
    write(tmp_path, "wf.yaml", """\
flow: 1
name: fifo
inputs:
  photos: {glob: "photos/*.jpg"}
steps:
  - id: nap
    from: photos
    uses: util.sleep
    with: {seconds: 0.1}
    parallel: {mode: map, workers: 2, chunksize: 1}
  - id: save
    uses: image.save
    with: {to: "out/{stem}.png"}
""")
    out = tmp_path / "out"
    proc = start(tmp_path, "run", "wf.yaml", "--json", marker=marker)
    assert wait_for(lambda: out.is_dir() and any(out.glob("*.png")), 30, proc), \
        proc.communicate()
    victim = tmp_path / "photos" / "p15.jpg"
    victim.unlink()
    os.mkfifo(victim)  # nobody will ever write to it
    t0 = time.monotonic()
    stdout, stderr = finish(proc, limit(30), marker)
    took = time.monotonic() - t0
    assert proc.returncode == 1, stdout + stderr
    (failed,) = [e for e in events(stdout) if e["event"] == "item_failed"]
    assert (failed["item"], failed["reason"]) == \
        ("photos/p15.jpg", "ImageError: not a regular file (a FIFO)"), failed
    assert len(list(out.glob("*.png"))) == 15
    assert took < limit(10)
    assert live_with_marker(marker) == []


def stop_run(tmp_path: Path, marker: str, times: int):
    write(tmp_path, "stopper.py", STEPS)
    write(tmp_path, "wf.yaml", f"""\
flow: 1
name: stopper
inputs:
  xs: {{range: {{start: 0, stop: 8, step: 1}}}}
steps:
  - id: s
    from: xs
    uses: py:stopper:stop_self
    with: {{times: {times}}}
    parallel: {{mode: async, workers: 2}}
  - id: total
    uses: numeric.sum
""")
    proc = start(tmp_path, "run", "wf.yaml", "--no-live", marker=marker)
    t0 = time.monotonic()
    stdout, stderr = finish(proc, limit(60), marker)
    return proc, stdout + stderr, time.monotonic() - t0


@pytest.mark.timing
def test_a_worker_that_stops_itself_is_continued(tmp_path, marker):
    proc, text, took = stop_run(tmp_path, marker, times=1)
    assert proc.returncode == 0, text
    assert "total: 28" in text, text
    assert took < limit(5), f"{took:.1f} s"
    assert live_with_marker(marker) == []


@pytest.mark.timing
def test_a_worker_that_stops_itself_again_and_again_is_ended_with_a_reason(tmp_path, marker):
    proc, text, took = stop_run(tmp_path, marker, times=1000)
    assert proc.returncode == 1, text
    failed = [ln.strip() for ln in text.splitlines() if ln.startswith("  item ")]
    assert failed == ["item 3 (3) at s: the worker stopped itself (SIGSTOP) again and "
                      "again; ended"], text
    assert took < limit(8), f"{took:.1f} s"
    assert live_with_marker(marker) == []


STALL_WF = """\
flow: 1
name: stall
inputs:
  xs: {range: {start: 0, stop: 40, step: 1}}
steps:
  - id: s
    from: xs
    uses: py:stopper:slow_at
    parallel: {mode: async, workers: 2}
"""


def stall_run(folder: Path, *args: str) -> str:
    """Run STALL_WF in ``folder``; its stdout."""
    marker = new_marker()
    try:
        write(folder, "stopper.py", STEPS)
        write(folder, "wf.yaml", STALL_WF)
        proc = start(folder, "run", "wf.yaml", *args, marker=marker)
        stdout, stderr = finish(proc, limit(60), marker)
    finally:
        kill_marked(marker)
    assert proc.returncode == 0, stdout + stderr
    return stdout


def stall_in_pty(folder: Path) -> str:
    """Run STALL_WF in ``folder`` under a real pseudo-terminal; what the terminal got."""
    import pty
    import subprocess
    import sys

    from tests.test_e2e_faults import flow_env

    write(folder, "stopper.py", STEPS)
    write(folder, "wf.yaml", STALL_WF)
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "runner", "run", "wf.yaml"], cwd=folder,
                            stdin=slave, stdout=slave, stderr=slave,
                            env={**flow_env(), "TERM": "xterm"})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=60) == 0
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.fixture(scope="module")
def stalls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Future]:
    """The stalled run seen three ways (``--json``, ``--no-live``, a pty), side by side.

    Each run is seconds of one item sleeping; each has its own folder and processes, so
    they go at once rather than one after the other. A test reads its run's result.
    """
    folders = {how: tmp_path_factory.mktemp(f"stall-{how}") for how in ("json", "plain", "pty")}
    return side_by_side(json=lambda: stall_run(folders["json"], "--json"),
                        plain=lambda: stall_run(folders["plain"], "--no-live"),
                        pty=lambda: stall_in_pty(folders["pty"]))


@pytest.mark.timing
def test_an_item_running_far_longer_than_the_others_is_shown_while_it_runs(stalls):
    evs = events(stalls["json"].result())
    stalled = [e for e in evs if e["event"] == "item_stalled"]
    assert stalled, [e["event"] for e in evs]
    first = stalled[0]
    assert first["item"] == "item 17 (17)" and not first["over"]
    assert 1.5 <= first["seconds"] < 4.0 and first["typical"] < 0.5, first
    assert stalled[-1]["over"] and stalled[-1]["seconds"] >= 3.9, stalled[-1]
    ended = next(e["t"] for e in evs if e["event"] == "run_finished")
    assert first["t"] < ended - 1.0  # seen while it ran, not only at the end


def test_plain_lines_say_which_item_stalls_and_for_how_long(stalls):
    stdout = stalls["plain"].result()
    lines = [ln for ln in stdout.splitlines() if "item 17 (17)" in ln]
    assert len(lines) == 2, stdout
    assert "still running: item 17 (17) in stage s for 2" in lines[0], lines
    assert re.search(r"\(a typical item takes 0\.\d\d s\)$", lines[0]), lines
    assert "slow item done: item 17 (17) in stage s after 4" in lines[1], lines


def test_the_live_table_shows_the_stalled_item(stalls):
    """Under a real pseudo-terminal, the line under the table names the item."""
    screen = stalls["pty"].result()
    assert "item 17 (17)" in screen and "running for" in screen, screen[-2000:]
