"""io.write, the atomic writer behind every output, and util.sleep."""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from steps import image as S
from steps.atomic import atomic_file, atomic_path, writer_of
from steps.image_open import ImageError
from steps.io import write
from steps.registry import step_def
from steps.util import sleep
from tests.conftest import REPO


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ---------------------------------------------------------------- atomic_path

def test_atomic_path_renames_into_place_and_creates_folders(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    with atomic_path(target) as tmp:
        assert Path(tmp).parent == target.parent and Path(tmp).name.startswith(".")
        assert not target.exists()  # nothing under the final name until it is whole
        Path(tmp).write_text("whole")
    assert target.read_text() == "whole"
    assert leftovers(target.parent) == []


def test_a_failed_write_leaves_the_older_output_untouched(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old and whole")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        Path(tmp).write_text("half of the new")
        raise RuntimeError("disk on fire")
    assert target.read_text() == "old and whole"
    assert leftovers(tmp_path) == []


def test_an_interrupted_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        Path(tmp).write_text("partial")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_outputs_get_ordinary_permissions(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_path(target) as tmp:
        Path(tmp).write_text("x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_a_failed_image_save_leaves_the_older_output_untouched(tmp_path):
    target = tmp_path / "thumb.jpg"
    Image.new("RGB", (10, 10), "blue").save(target)
    before = target.read_bytes()
    transparent = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    with pytest.raises(ImageError):
        S.save(transparent, to=str(target))
    assert target.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_an_image_save_that_fails_mid_write_leaves_the_older_output(tmp_path):
    target = tmp_path / "thumb.png"
    Image.new("RGB", (10, 10), "blue").save(target)
    before = target.read_bytes()

    class Exploding(Image.Image):
        """A real image whose encoder dies half-way, like a full disk would make it."""

        def save(self, fp, *args, **kwargs):
            fp.write(b"\x89PNG half")  # the writer is handed an open file, not a name
            raise OSError(28, "No space left on device")

    img = Image.new("RGB", (10, 10), "red")
    img.__class__ = Exploding
    with pytest.raises(OSError, match="no space left on device writing .*thumb.png"):
        S.save(img, to=str(target))
    assert target.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_a_replaced_file_keeps_its_mode_and_text_is_checked_whole(tmp_path):
    target = tmp_path / "state.json"
    target.write_text("old")
    target.chmod(0o600)
    with atomic_file(target, "w", encoding="utf-8") as fh:
        assert writer_of(Path(fh.name).name) == os.getpid()  # a name the sweep knows
        fh.write("né" * 1000)
    assert target.read_text(encoding="utf-8") == "né" * 1000
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------- what dead writers left

def zombie() -> subprocess.Popen:
    """A child that has exited and is not reaped yet: its pid is taken but nobody runs."""
    child = subprocess.Popen(["true"])
    end = time.monotonic() + 5
    while time.monotonic() < end:
        stat = Path(f"/proc/{child.pid}/stat").read_bytes()
        if stat[stat.rfind(b")") + 2:].startswith(b"Z"):
            return child
        time.sleep(0.005)
    pytest.fail("the child never became a zombie")


def test_a_run_sweeps_temp_files_of_dead_and_zombie_writers_only(tmp_path, flow):
    (tmp_path / "wf.yaml").write_text("""\
flow: 1
name: sweep
inputs:
  xs: {values: [1, 2]}
steps:
  - id: sq
    from: xs
    uses: numeric.square
  - id: out
    uses: io.write
    with: {to: out/sq.json}
""")
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    undead = zombie()
    try:
        for name in (f".sq.json.{dead.pid}.0badcafe.part", f".sq.json.{undead.pid}.deadbeef.part",
                     f".sq.json.{os.getpid()}.01234567.part"):  # the last one's writer is alive
            (out / name).write_text("half")
        res = flow("run", "wf.yaml", "--no-live")
    finally:
        undead.wait()
    assert res.returncode == 0, res.stdout + res.stderr
    assert sorted(p.name for p in out.iterdir()) == [f".sq.json.{os.getpid()}.01234567.part",
                                                     "sq.json"]


KILLED_WRITER = """\
import sys, time
from steps.atomic import atomic_file
with atomic_file(sys.argv[1], "w") as fh:
    fh.write("half")
    fh.flush()
    print("writing", flush=True)
    time.sleep(60)
"""


def test_a_killed_writers_temp_file_is_swept_once_it_is_dead(tmp_path):
    from runner.files.atomic import sweep_temp

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    folder = tmp_path / "out"
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(folder / "report.json")],
                             env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "writing\n"
        assert sweep_temp([str(folder)]) == 0  # its writer is alive: left alone
    finally:
        child.kill()
        child.wait()
    assert len(leftovers(folder)) == 1
    assert sweep_temp([str(folder)]) == 1
    assert list(folder.iterdir()) == []


# ---------------------------------------------------------------- io.write

def test_json_of_one_reduced_value_is_that_value(tmp_path):
    stats = {"count": 3, "mean": 2.0, "median": 2}
    out = write([stats], to=str(tmp_path / "s" / "summary.json"))
    assert out == str(tmp_path / "s" / "summary.json")
    assert json.loads(Path(out).read_text()) == stats
    out = write([stats], to=str(tmp_path / "l.json"), as_list=True)
    assert json.loads(Path(out).read_text()) == [stats]


def test_json_of_many_values_is_a_list(tmp_path):
    out = write([1, 2.5, "x", Path("p/q.jpg")], to=str(tmp_path / "v.json"))
    assert json.loads(Path(out).read_text()) == [1, 2.5, "x", "p/q.jpg"]


def test_csv_rows_with_a_header_for_dicts(tmp_path):
    rows = [{"name": "a", "size": 1}, {"name": "b", "size": 2, "extra": [1, 2]}]
    out = write(rows, to=str(tmp_path / "r.csv"))
    got = list(csv.DictReader(open(out, newline="")))
    assert got == [{"name": "a", "size": "1", "extra": ""},
                   {"name": "b", "size": "2", "extra": "[1, 2]"}]
    out = write([1, 4, 9], to=str(tmp_path / "n.csv"))
    assert Path(out).read_text() == "value\n1\n4\n9\n"


def test_txt_one_line_per_value(tmp_path):
    out = write([1, "two\nlines", {"a": 1}], to=str(tmp_path / "t.txt"))
    assert Path(out).read_text() == '1\ntwo lines\n{"a": 1}\n'


def test_write_refuses_images_and_unknown_suffixes(tmp_path):
    with pytest.raises(ValueError, match="use image.save"):
        write([Image.new("RGB", (2, 2))], to=str(tmp_path / "x.json"))
    with pytest.raises(ValueError, match="use .json, .csv or .txt"):
        write([1], to=str(tmp_path / "x.yaml"))
    assert list(tmp_path.iterdir()) == []


def test_write_is_a_reduce_with_its_output_declared():
    sd = step_def(write)
    assert (sd.kind, sd.outputs, sd.name) == ("reduce", ("to",), "io.write")


# ---------------------------------------------------------------- util.sleep

def test_sleep_waits_and_passes_the_value_on():
    t0 = time.perf_counter()
    assert sleep(41, seconds=0.05) == 41
    assert time.perf_counter() - t0 >= 0.05
