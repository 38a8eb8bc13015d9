"""An output folder swapped for a symlink mid-run: checked as each file is written.

The real ``flow`` command saves real photos one by one; while it runs, the test
renames the output folder away and puts a symlink to a folder outside the working
directory in its place.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import run_flow
from tests.hostile_kit import decodes, events, make_photo, start, wait_for, write

SLOW_SAVE = """\
flow: 1
name: swap
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
    with: {to: "build/out/{stem}.png"}
"""


def photos(folder: Path, count: int) -> None:
    for i in range(count):
        make_photo(folder / f"p{i:02d}.jpg", (120, 90), seed=i)


def swap_mid_run(work: Path, outside: Path, *args: str) -> tuple[int, str, list[dict]]:
    """Run flow; once two outputs exist, swap ``build/out`` for a link to ``outside``."""
    out = work / "build" / "out"
    proc = start(work, "run", "wf.yaml", "--json", *args)
    try:
        assert wait_for(lambda: out.is_dir() and len(list(out.glob("*.png"))) >= 2, 30, proc), \
            proc.communicate()
        out.rename(work / "build" / "before")
        out.symlink_to(outside)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, stderr, events(stdout)


def test_an_output_folder_swapped_for_a_symlink_outside_is_refused_at_the_write(tmp_path):
    work, outside = tmp_path / "work", tmp_path / "outside"
    outside.mkdir()
    photos(work / "photos", 30)
    write(work, "wf.yaml", SLOW_SAVE)
    code, stderr, evs = swap_mid_run(work, outside)
    assert list(outside.iterdir()) == []  # nothing written through the link
    assert code == 1, stderr
    assert "Traceback" not in stderr
    failed = [e for e in evs if e["event"] == "item_failed"]
    assert failed, evs[-3:]
    for e in failed:
        assert e["reason"] == ("PermissionError: output path leaves the working directory "
                               f"through a symlink: build/out -> {outside} (found as the file "
                               "was written; use --allow-outside to allow it)"), e
    made = sorted((work / "build" / "before").glob("*.png"))
    assert len(made) + len(failed) == 30
    assert all(decodes(p) for p in made)


def test_allow_outside_still_writes_through_the_swapped_folder(tmp_path):
    work, outside = tmp_path / "work", tmp_path / "outside"
    outside.mkdir()
    photos(work / "photos", 12)
    write(work, "wf.yaml", SLOW_SAVE)
    code, stderr, evs = swap_mid_run(work, outside, "--allow-outside")
    assert code == 0, stderr
    made = len(list((work / "build" / "before").glob("*.png")))
    assert len(list(outside.glob("*.png"))) == 12 - made
    assert [e for e in evs if e["event"] == "item_failed"] == []


def test_symlinks_that_stay_inside_the_working_directory_are_followed(tmp_path):
    """``build/out`` a link to another folder of the working directory, and a relative
    link on the way: both stay inside, so the write goes where they lead."""
    work = tmp_path / "work"
    photos(work / "photos", 3)
    (work / "store" / "real").mkdir(parents=True)
    (work / "build").mkdir()
    (work / "build" / "out").symlink_to(work / "store")  # absolute, inside
    (work / "store" / "sub").symlink_to("real")  # relative, inside
    write(work, "wf.yaml", SLOW_SAVE.replace("build/out/{stem}", "build/out/sub/{stem}"))
    res = run_flow("run", "wf.yaml", "--json", cwd=work)
    assert res.returncode == 0, res.stdout + res.stderr
    assert sorted(p.name for p in (work / "store" / "real").iterdir()) == \
        ["p00.png", "p01.png", "p02.png"]


def test_a_reduce_output_behind_a_swapped_folder_is_refused_too(tmp_path):
    """io.write goes through the same writer: its folder swapped once items run."""
    work, outside = tmp_path / "work", tmp_path / "outside"
    outside.mkdir()
    mark = tmp_path / "running.mark"
    write(work, "wf.yaml", f"""\
flow: 1
name: total
inputs:
  xs: {{range: {{start: 0, stop: 4, step: 1}}}}
steps:
  - id: slow
    from: xs
    uses: py:tests.faults:sleep_at
    with: {{seconds: 0.5, mark: "{mark}"}}
    parallel: {{workers: 2, chunksize: 1}}
  - id: total
    uses: numeric.sum
  - id: write
    uses: io.write
    with: {{to: "res/total.json"}}
""")
    (work / "res").mkdir()
    proc = start(work, "run", "wf.yaml", "--json")
    assert wait_for(mark.exists, 30, proc), proc.communicate()
    os.rmdir(work / "res")
    (work / "res").symlink_to(outside)
    stdout, stderr = proc.communicate(timeout=60)
    assert list(outside.iterdir()) == []
    assert proc.returncode == 1, stdout + stderr
    failures = [e for e in events(stdout) if e["event"] == "item_failed"]
    assert len(failures) == 1, failures
    assert f"through a symlink: res -> {outside} " in failures[0]["reason"], failures
