"""A tree's branches are each up to date on their own: a stale branch reruns alone.

Through the real ``flow`` command on real JPEGs, with the three-size tree of
``test_trees`` (a ``py:`` probe as its trunk logs every photo it hands on, so a
test sees each photo decoded once per run that needs it). Each test runs the tree,
makes one branch stale for one photo or for all (its output deleted, its size edited,
its code edited, its output unwritable), runs again, and checks that exactly that
branch's outputs were made again: every other output keeps its inode and mtime.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from PIL import Image

from tests.conftest import run_flow
from tests.test_trees import branch, setup, tree_workflow

FOLDERS = ("big", "mid", "small")


def run(tmp_path: Path, expect: int = 0) -> dict:
    """One ``flow run`` of tree.yaml; its report."""
    res = run_flow("run", "tree.yaml", "--no-live", "--report", "r.json", cwd=tmp_path)
    assert res.returncode == expect, res.stdout + res.stderr
    return json.loads((tmp_path / "r.json").read_text())


def states(tmp_path: Path) -> dict[str, tuple[int, int]]:
    """Every output's (inode, mtime_ns), by its path below out/."""
    out = tmp_path / "out"
    return {str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in sorted(out.rglob("*.jpg")) if p.is_file()}


def remade(before: dict, after: dict) -> set[str]:
    """The outputs made again (or made anew) between two states."""
    return {p for p, st in after.items() if before.get(p) != st}


def seen_since(tmp_path: Path, mark: int) -> list[str]:
    """The photos the trunk handed on since ``mark`` lines of seen.txt."""
    return (tmp_path / "seen.txt").read_text().split()[mark:]


def first_run(tmp_path: Path, count: int = 3) -> tuple[list[Path], dict, int]:
    photos = setup(tmp_path, count=count)
    if not (tmp_path / "tree.yaml").exists():
        (tmp_path / "tree.yaml").write_text(tree_workflow(""))
    report = run(tmp_path)
    assert report["stages"][0]["done"] == count
    return photos, states(tmp_path), len(seen_since(tmp_path, 0))


def test_a_deleted_output_remakes_only_its_branch_for_its_photo(tmp_path):
    photos, before, mark = first_run(tmp_path)
    gone = f"mid/{photos[0].stem}.jpg"
    (tmp_path / "out" / gone).unlink()
    why = run_flow("explain", "tree.yaml", f"photos/{photos[0].name}", cwd=tmp_path)
    assert why.returncode == 0, why.stdout + why.stderr
    assert "branch mid→save_mid: runs: output missing" in why.stdout, why.stdout
    assert "branch big→save_big: up to date" in why.stdout, why.stdout
    report = run(tmp_path)
    after = states(tmp_path)
    assert remade(before, after) == {gone}
    assert seen_since(tmp_path, mark) == [photos[0].name]  # decoded once, that photo only
    stage = report["stages"][0]
    assert (stage["done"], stage["skipped"]) == (1, 2)
    # The summary says which branches ran: the mid one, for one photo.
    assert any("mid→save_mid 1" in n and "big→save_big 0" in n and "small→save_small 0" in n
               for n in report["notices"]), report["notices"]
    with Image.open(tmp_path / "out" / gone) as im:
        assert im.size == (300, 200)
    assert (run(tmp_path)["stages"][0]["skipped"]) == 3  # and then all is up to date


def test_an_edited_size_remakes_only_that_branch(tmp_path):
    photos, before, mark = first_run(tmp_path)
    wf = tmp_path / "tree.yaml"
    wf.write_text(wf.read_text().replace("{width: 300, height: 300}", "{width: 250, height: 250}"))
    report = run(tmp_path)
    after = states(tmp_path)
    assert remade(before, after) == {f"mid/{p.stem}.jpg" for p in photos}
    assert sorted(seen_since(tmp_path, mark)) == sorted(p.name for p in photos)  # once each
    assert report["stages"][0]["done"] == 3
    for p in photos:
        with Image.open(tmp_path / "out" / "mid" / f"{p.stem}.jpg") as im:
            assert im.size == (250, 167)
    plan = run_flow("run", "tree.yaml", "--dry-run", cwd=tmp_path)
    assert plan.returncode == 0 and "3 items up to date" in plan.stdout, plan.stdout


TINT = """\
from PIL import Image, ImageOps


def tint(img: Image.Image) -> Image.Image:
    return ImageOps.autocontrast(img.convert("RGB"), cutoff=%d)
"""


def test_edited_code_of_one_branch_remakes_only_that_branch(tmp_path):
    (tmp_path / "tint.py").write_text(TINT % 1)
    setup(tmp_path, count=3)
    tinted = branch("tinted", "uses: py:tint:tint", "tinted", "seen", "")
    (tmp_path / "tree.yaml").write_text(tree_workflow("") + tinted)
    photos, before, mark = first_run(tmp_path)
    assert len([p for p in before if p.startswith("tinted/")]) == 3
    (tmp_path / "tint.py").write_text(TINT % 5)
    run(tmp_path)
    after = states(tmp_path)
    assert remade(before, after) == {f"tinted/{p.stem}.jpg" for p in photos}
    assert sorted(seen_since(tmp_path, mark)) == sorted(p.name for p in photos)


def test_after_a_branch_failed_a_photo_the_next_run_remakes_only_that_output(tmp_path):
    photos = setup(tmp_path, count=3)
    (tmp_path / "tree.yaml").write_text(tree_workflow(""))
    blocker = tmp_path / "out" / "mid" / f"{photos[1].stem}.jpg"
    blocker.mkdir(parents=True)  # a folder where the file goes: save_mid fails that photo
    run(tmp_path, expect=1)
    before = states(tmp_path)
    assert len(before) == 8
    blocker.rmdir()
    report = run(tmp_path)
    assert remade(before, states(tmp_path)) == {f"mid/{photos[1].stem}.jpg"}
    assert (report["stages"][0]["done"], report["stages"][0]["skipped"]) == (1, 2)


def test_a_photo_with_every_branch_up_to_date_is_not_opened(tmp_path):
    photos, before, mark = first_run(tmp_path)
    os.utime(photos[2])  # same bytes, newer mtime: its source changed for every branch
    report = run(tmp_path)
    assert seen_since(tmp_path, mark) == [photos[2].name]
    assert remade(before, states(tmp_path)) == {f"{f}/{photos[2].stem}.jpg" for f in FOLDERS}
    assert not any("remade only" in n for n in report["notices"])
