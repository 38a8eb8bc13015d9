"""flow's record in ``.flow``, through the real `flow` command: a store that cannot be
trusted is set aside and everything reruns (never a wrong skip, never a traceback); a
``.flow`` that cannot be written is a clear error before any work starts."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_photos, run_flow

WF = """\
flow: 1
name: store
inputs:
  photos: {glob: "photos/*.jpg"}
steps:
  - {id: small, from: photos, uses: image.thumbnail, with: {size: 24}}
  - {id: save, uses: image.save, with: {to: "out/{stem}.png"}}
"""


def setup(folder: Path) -> None:
    (folder / "wf.yaml").write_text(WF)
    make_photos(folder / "photos", count=3, size=(96, 64))


def flow_run(folder: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return run_flow("run", "wf.yaml", "--no-live", *args, cwd=folder, timeout=timeout)


def done_skipped(res: subprocess.CompletedProcess) -> tuple[int, int]:
    row = next(line.split() for line in res.stdout.splitlines()
               if line.strip().startswith("small→save"))
    return int(row[2]), int(row[4])


def assert_set_aside_and_redone(folder: Path, res: subprocess.CompletedProcess) -> None:
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    notice = [line for line in res.stderr.splitlines() if "set aside" in line]
    assert len(notice) == 1 and "everything reruns" in notice[0], res.stderr
    assert done_skipped(res) == (3, 0)  # nothing skipped on a record it could not read
    assert list((folder / ".flow").glob("journal.db.bad-*"))
    again = flow_run(folder)  # the new store works
    assert done_skipped(again) == (0, 3) and "set aside" not in again.stderr


def refused_before_any_work(folder: Path, res: subprocess.CompletedProcess,
                            *said: str) -> None:
    """Exit 2 with one of ``said`` in the message, no traceback, no output written."""
    assert res.returncode == 2, res.stdout + res.stderr
    assert any(s.lower() in res.stderr.lower() for s in said), res.stderr
    assert "Traceback" not in res.stderr
    assert not (folder / "out").exists()


def test_a_store_that_is_not_a_database_is_set_aside(tmp_path):
    setup(tmp_path)
    (tmp_path / ".flow").mkdir()
    (tmp_path / ".flow" / "journal.db").write_bytes(os.urandom(5000))
    assert_set_aside_and_redone(tmp_path, flow_run(tmp_path))


def test_a_truncated_store_is_set_aside(tmp_path):
    setup(tmp_path)
    assert flow_run(tmp_path).returncode == 0
    db = tmp_path / ".flow" / "journal.db"
    with sqlite3.connect(db) as conn:  # enough rows that half the file loses some of them
        conn.executemany("INSERT INTO meta VALUES (?, ?)",
                         [(f"pad{i}", "x" * 500) for i in range(200)])
    conn.close()
    size = db.stat().st_size
    os.truncate(db, size // 2)
    assert_set_aside_and_redone(tmp_path, flow_run(tmp_path))


def test_another_programs_database_is_set_aside(tmp_path):
    setup(tmp_path)
    (tmp_path / ".flow").mkdir()
    conn = sqlite3.connect(tmp_path / ".flow" / "journal.db")
    conn.execute("CREATE TABLE items(name TEXT)")
    conn.commit()
    conn.close()
    assert_set_aside_and_redone(tmp_path, flow_run(tmp_path))


def test_a_store_from_a_newer_flow_is_set_aside(tmp_path):
    setup(tmp_path)
    assert flow_run(tmp_path).returncode == 0
    conn = sqlite3.connect(tmp_path / ".flow" / "journal.db")
    conn.execute("PRAGMA user_version=99")
    conn.close()
    res = flow_run(tmp_path)
    assert "newer flow" in res.stderr
    assert_set_aside_and_redone(tmp_path, res)


def test_a_fifo_where_the_store_goes_is_refused_without_hanging(tmp_path):
    setup(tmp_path)
    (tmp_path / ".flow").mkdir()
    os.mkfifo(tmp_path / ".flow" / "journal.db")
    res = flow_run(tmp_path, timeout=30)
    refused_before_any_work(tmp_path, res, "not a regular file")
    plan = run_flow("run", "wf.yaml", "--dry-run", cwd=tmp_path, timeout=30)
    assert plan.returncode == 0 and "3 to run" in plan.stdout


def test_a_flow_folder_that_is_a_file_is_an_error_before_any_work(tmp_path):
    setup(tmp_path)
    (tmp_path / ".flow").write_text("not a folder")
    res = flow_run(tmp_path)
    refused_before_any_work(tmp_path, res, ".flow is not a folder")


def test_an_old_record_that_is_broken_is_no_trouble(tmp_path):
    setup(tmp_path)
    (tmp_path / ".flow").mkdir()
    for text in ('{"version":1,"outputs":5}', "[" * 200_000 + "]" * 200_000):
        (tmp_path / ".flow" / "state.json").write_text(text)
        res = flow_run(tmp_path, "--force")
        assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A small tmpfs mounted at ``where`` (tests of a full or read-only .flow need root)."""
    where.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_a_read_only_flow_folder_is_an_error_before_any_work(tmp_path):
    setup(tmp_path)
    with tmpfs(tmp_path / ".flow", "1m") as folder:
        remount = subprocess.run(["mount", "-o", "remount,ro", str(folder)],
                                 capture_output=True, text=True)
        assert remount.returncode == 0, remount.stderr
        res = flow_run(tmp_path)
        refused_before_any_work(tmp_path, res, "Read-only file system")


def test_a_full_disk_under_flow_is_an_error_before_any_work(tmp_path):
    setup(tmp_path)
    with tmpfs(tmp_path / ".flow", "64k") as folder:
        fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
        with contextlib.suppress(OSError):
            while os.write(fd, b"x" * 4096):
                pass
        os.close(fd)
        res = flow_run(tmp_path)
        refused_before_any_work(tmp_path, res, "disk is full", "no space left on device")
