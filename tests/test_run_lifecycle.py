"""A run's life in its folder, through the real `flow` command: killed (SIGKILL, SIGTERM,
SIGHUP) and run again it redoes only what was in flight; a second run waits for the
first, or refuses with --no-wait; a killed run's lock is taken over."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import Future
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import REPO, make_photos, run_flow, side_by_side
from tests.faults import descendants_of, wait_gone

SLOW_WF = """\
flow: 1
name: slow
inputs:
  files: {glob: "items/*.txt"}
steps:
  - {id: wait, from: files, uses: util.sleep, with: {seconds: 0.15}, parallel: {workers: 2}}
"""
COUNT = 30


def setup(folder: Path, text: str = SLOW_WF) -> None:
    (folder / "wf.yaml").write_text(text)
    (folder / "items").mkdir()
    for i in range(COUNT):
        (folder / "items" / f"{i:02d}.txt").write_text(str(i))


def start(folder: Path, *args: str) -> subprocess.Popen:
    """``flow run wf.yaml --json ARGS`` in the background (JSON Lines on stdout)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "runner", "run", "wf.yaml", "--json", *args],
                            cwd=folder, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(proc: subprocess.Popen, event: str, done: int = 0, timeout: float = 60) -> dict:
    """Read ``proc``'s events until ``event`` (with at least ``done`` items done)."""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        assert line, f"flow ended early: {proc.wait()} {proc.stderr.read()}"  # type: ignore
        ev = json.loads(line)
        if ev["event"] == event and ev.get("done", 0) >= done:
            return ev
    raise AssertionError(f"no {event} within {timeout} s")


def recorded(folder: Path) -> int:
    """How many items the journal holds as made."""
    with sqlite3.connect(f"file:{folder / '.flow' / 'journal.db'}?mode=ro", uri=True) as c:
        return c.execute("SELECT count(*) FROM items WHERE status=0").fetchone()[0]


def counts(folder: Path, *args: str) -> tuple[int, int, subprocess.CompletedProcess]:
    res = run_flow("run", "wf.yaml", "--no-live", "--report", "report.json", *args,
                   cwd=folder)
    assert res.returncode == 0, res.stdout + res.stderr
    [stage] = json.loads((folder / "report.json").read_text())["stages"]
    return stage["done"], stage["skipped"], res


def killed_with_sigkill(tmp_path: Path) -> None:
    setup(tmp_path)
    proc = start(tmp_path)
    seen = wait_for(proc, "stage_progress", done=8)["done"]
    workers = descendants_of(proc.pid)
    proc.kill()
    proc.wait(timeout=10)
    assert not wait_gone(workers, 10)  # its workers went with it
    kept = recorded(tmp_path)
    assert seen <= kept < COUNT  # every item it reported done, and more, was recorded
    done, skipped, _ = counts(tmp_path)
    assert (done, skipped) == (COUNT - kept, kept)  # only what was in flight is redone


def _ended_by(tmp_path: Path, sig: int, code: int) -> None:
    setup(tmp_path)
    proc = start(tmp_path)
    seen = wait_for(proc, "stage_progress", done=6)["done"]
    workers = descendants_of(proc.pid)
    sent = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert time.monotonic() - sent < 10
    assert "interrupted" in err and "Traceback" not in err
    assert not wait_gone(workers, 10)  # no process left behind
    assert not list((tmp_path / "items").glob(".*.part"))
    kept = recorded(tmp_path)
    assert seen <= kept < COUNT
    done, skipped, _ = counts(tmp_path)
    assert (done, skipped) == (COUNT - kept, kept)


def second_run_waits(tmp_path: Path) -> None:
    setup(tmp_path)
    first = start(tmp_path)
    wait_for(first, "run_started")
    refused = run_flow("run", "wf.yaml", "--no-live", "--no-wait", cwd=tmp_path, timeout=30)
    assert refused.returncode == 2
    assert "the run started at" in refused.stderr and f"(pid {first.pid}" in refused.stderr
    second = start(tmp_path)
    assert second.stderr is not None
    said = second.stderr.readline()
    assert "waiting for the run started at" in said and f"(pid {first.pid}" in said
    assert second.poll() is None  # it waits
    first_out, _ = first.communicate(timeout=60)
    assert first.returncode == 0
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    finished = [json.loads(line) for line in out.splitlines()
                if json.loads(line)["event"] == "stage_finished"]
    assert [(e["done"], e["skipped"]) for e in finished] == [(0, COUNT)]  # the first did it all


def lock_taken_over(tmp_path: Path) -> None:
    setup(tmp_path)
    first = start(tmp_path)
    wait_for(first, "stage_progress", done=2)
    first.kill()
    first.wait(timeout=10)
    t0 = time.monotonic()
    done, skipped, res = counts(tmp_path)
    assert "waiting" not in res.stderr and time.monotonic() - t0 < 30
    assert done + skipped == COUNT and skipped >= 2


SIZES_WF = """\
flow: 1
name: sizes
params: {size: 24, pause: 0}
inputs:
  photos: {glob: "photos/*.jpg"}
steps:
  - {id: slow, from: photos, uses: util.sleep, with: {seconds: "${pause}"}}
  - {id: small, uses: image.thumbnail, with: {size: "${size}"}}
  - {id: save, uses: image.save, with: {to: "out/{stem}.png"}}
"""


def two_runs_with_other_params(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(SIZES_WF)
    photos = make_photos(tmp_path / "photos", count=16, size=(200, 150))
    # The first, slow, is a quarter done when the second, fast, starts: without one run
    # per folder the second would finish first and the first overwrite some of its files.
    small = start(tmp_path, "-p", "size=24", "-p", "pause=0.3")
    wait_for(small, "stage_progress", done=4)
    large = start(tmp_path, "-p", "size=48")
    assert small.wait(timeout=90) == 0 and large.wait(timeout=90) == 0

    def sizes() -> set[int]:
        out = set()
        for p in photos:
            with Image.open(tmp_path / "out" / f"{p.stem}.png") as im:
                out.add(max(im.size))
        return out

    assert sizes() == {48}  # the second run came after the first, whole
    res = run_flow("run", "wf.yaml", "--no-live", "-p", "size=48", cwd=tmp_path)
    assert "up to date (16 items skipped)" in res.stdout
    res = run_flow("run", "wf.yaml", "--no-live", "-p", "size=24", "-p", "pause=0.3",
                   cwd=tmp_path)
    assert "up to date" not in res.stdout and sizes() == {24}


@pytest.fixture(scope="module")
def lives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Future]:
    """Each run's life above, in its own folder, all side by side.

    Each is seconds of sleeping items and waits on flow's events, not on the clock; no
    two share a folder, a lock or a process. A test reads its own future, which raises
    what that life's checks raised.
    """
    bodies = {"sigkill": killed_with_sigkill,
              "sigterm": lambda folder: _ended_by(folder, signal.SIGTERM, 143),
              "sighup": lambda folder: _ended_by(folder, signal.SIGHUP, 129),
              "waits": second_run_waits, "lock": lock_taken_over,
              "params": two_runs_with_other_params}
    folders = {name: tmp_path_factory.mktemp(name) for name in bodies}
    return side_by_side(**{name: lambda body=body, folder=folders[name]: body(folder)
                           for name, body in bodies.items()})


def test_a_run_killed_with_sigkill_is_finished_by_the_next_without_redoing_its_work(lives):
    lives["sigkill"].result()


def test_sigterm_ends_a_run_as_ctrl_c_does_with_exit_143(lives):
    lives["sigterm"].result()


def test_sighup_ends_a_run_as_ctrl_c_does_with_exit_129(lives):
    lives["sighup"].result()


def test_a_second_run_in_the_folder_waits_for_the_first_or_refuses_with_no_wait(lives):
    lives["waits"].result()


def test_the_lock_of_a_killed_run_is_taken_over(lives):
    lives["lock"].result()


def test_two_runs_with_other_params_in_one_folder_never_leave_a_wrong_skip(lives):
    lives["params"].result()
