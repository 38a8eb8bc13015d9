"""Several branches from the same photos: one decode per photo, every branch's output made.

Through the real ``flow`` command on real JPEGs. The trunk's first step is a
``py:`` step annotated as taking an image that records each call, so the test
sees how many times each photo is opened and handed on; the branches' outputs
are compared with what a workflow of each branch alone makes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from tests.conftest import make_photos, run_flow

PROBE = """\
import os

from PIL import Image


def seen(img: Image.Image) -> Image.Image:
    # One line per call, appended (workers are separate processes).
    with open("seen.txt", "a") as fh:
        fh.write(os.path.basename(img.filename) + "\\n")
    return img
"""

HEAD = """\
flow: 1
name: sizes
inputs:
  photos: {glob: "photos/*.%s"}
steps:
"""

# (step id, step, save folder); big, mid and small as a web team makes them.
BRANCHES = [
    ("big", "uses: image.resize\n    with: {width: 600, height: 600}", "big"),
    ("mid", "uses: image.resize\n    with: {width: 300, height: 300}", "mid"),
    ("small", "uses: image.thumbnail\n    with: {size: 100}", "small"),
]
SIZES = {"big": (600, 400), "mid": (300, 200), "small": (100, 67)}


def branch(name: str, step: str, folder: str, source: str, par: str) -> str:
    return (f"  - id: {name}\n    from: {source}\n    {step}\n{par}"
            f"  - id: save_{name}\n    uses: image.save\n"
            f"    with: {{to: \"out/{folder}/{{stem}}.jpg\", quality: 90}}\n{par}")


def tree_workflow(par: str, ext: str = "jpg") -> str:
    text = HEAD % ext + f"  - id: seen\n    from: photos\n    uses: py:probe:seen\n{par}"
    return text + "".join(branch(n, s, f, "seen", par) for n, s, f in BRANCHES)


def setup(tmp_path: Path, count: int = 4, ext: str = "jpg") -> list[Path]:
    photos = make_photos(tmp_path / "photos", count=count, size=(1200, 800))
    (tmp_path / "probe.py").write_text(PROBE)
    if ext == "png":  # the same photos as PNGs: no shrink-on-load, every pixel decoded
        for i, photo in enumerate(photos):
            with Image.open(photo) as im:
                photos[i] = photo.with_suffix(".png")
                im.save(photos[i])
            photo.unlink()
    return photos


def mean_diff(a: Path, b: Path) -> float:
    with Image.open(a) as x, Image.open(b) as y:
        return max(ImageStat.Stat(ImageChops.difference(x.convert("RGB"),
                                                        y.convert("RGB"))).mean)


PARS = {"local": "", "serial": "    parallel: {mode: serial}\n"}


@pytest.mark.parametrize("mode, ext", [("local", "jpg"), ("serial", "jpg"), ("local", "png")])
def test_three_sizes_decode_each_photo_once_and_match_separate_runs(tmp_path, mode, ext):
    photos = setup(tmp_path, ext=ext)
    par = PARS[mode]
    (tmp_path / "tree.yaml").write_text(tree_workflow(par, ext))
    graph = run_flow("graph", "tree.yaml", cwd=tmp_path)
    assert "in 1 stages" in graph.stdout and "tree of 3 branches" in graph.stdout, graph.stdout
    res = run_flow("run", "tree.yaml", "--no-live", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    seen = (tmp_path / "seen.txt").read_text().split()
    assert sorted(seen) == sorted(p.name for p in photos)  # once each, not three times

    for name, step, folder in BRANCHES:  # each branch as a workflow of its own
        (tmp_path / f"{name}.yaml").write_text(
            HEAD % ext + branch(name, step, f"alone_{folder}", "photos", par))
        alone = run_flow("run", f"{name}.yaml", "--no-live", cwd=tmp_path)
        assert alone.returncode == 0, alone.stdout + alone.stderr
    for photo in photos:
        for name, _, folder in BRANCHES:
            made = tmp_path / "out" / folder / f"{photo.stem}.jpg"
            with Image.open(made) as im:
                assert im.size == SIZES[name]
            # The largest is made exactly as it is alone (same draft, same resize); each
            # smaller one is resized from the next larger output, as a hand-written script
            # does, so it differs by resampling only: same size, under 1.5 levels on average.
            diff = mean_diff(made, tmp_path / "out" / f"alone_{folder}" / made.name)
            assert diff == 0 if name == "big" else diff < 1.5, (name, diff)


@pytest.mark.parametrize("mode", PARS)
def test_a_branch_failing_an_item_leaves_the_other_branches_outputs(tmp_path, mode):
    photos = setup(tmp_path, count=3)
    (tmp_path / "tree.yaml").write_text(tree_workflow(PARS[mode]))
    victim = photos[1].stem
    # The mid-size file cannot be written for one photo: a folder stands in its place.
    (tmp_path / "out" / "mid" / f"{victim}.jpg").mkdir(parents=True)
    res = run_flow("run", "tree.yaml", "--no-live", "--report", "report.json", cwd=tmp_path)
    assert res.returncode != 0, res.stdout + res.stderr
    assert "save_mid" in res.stdout + res.stderr and photos[1].name in res.stdout + res.stderr
    for photo in photos:
        for folder in ("big", "small"):
            assert (tmp_path / "out" / folder / f"{photo.stem}.jpg").is_file(), (folder, photo)
        if photo.stem != victim:
            assert (tmp_path / "out" / "mid" / f"{photo.stem}.jpg").is_file()
    report = json.loads((tmp_path / "report.json").read_text())
    assert "save_mid" in json.dumps(report)


def test_a_tree_skips_a_photo_only_when_all_its_branches_outputs_are_up_to_date(tmp_path):
    photos = setup(tmp_path, count=3)
    (tmp_path / "tree.yaml").write_text(tree_workflow(""))

    def run() -> dict:
        res = run_flow("run", "tree.yaml", "--no-live", "--report", "r.json", cwd=tmp_path)
        assert res.returncode == 0, res.stdout + res.stderr
        return json.loads((tmp_path / "r.json").read_text())["stages"][0]

    assert run()["done"] == 3
    second = run()
    assert (second["done"], second["skipped"]) == (0, 3)
    (tmp_path / "out" / "small" / f"{photos[0].stem}.jpg").unlink()
    again = run()
    assert (again["done"], again["skipped"]) == (1, 2)
    assert (tmp_path / "out" / "small" / f"{photos[0].stem}.jpg").is_file()
