"""What a re-run would do and why, through the real `flow` command: `--dry-run` is a plan
with reasons, examples and an estimate; `flow explain` says it per item; `--only-failed`
runs the items that failed; every report of a run counts the skipped items."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import make_photos, run_flow

WF = """\
flow: 1
name: plan
inputs:
  photos: {glob: "photos/*.jpg"}
steps:
  - {id: small, from: photos, uses: image.thumbnail, with: {size: 24}}
  - {id: save, uses: image.save, with: {to: "out/{stem}.png"}}
  - {id: mark, from: photos, uses: "py:marker:mark"}
  - {id: brightness, from: photos, uses: image.measure, with: {what: brightness}}
  - {id: stats, uses: numeric.stats}
"""
MARKER = """\
import os

def mark(path):
    with open(os.path.join(os.path.dirname(__file__), "called.txt"), "a") as fh:
        fh.write("x")
    return os.path.basename(path)
"""


def setup(folder: Path, count: int = 6) -> list[Path]:
    (folder / "wf.yaml").write_text(WF)
    (folder / "marker.py").write_text(MARKER)
    return make_photos(folder / "photos", count=count, size=(96, 64))


def flow(folder: Path, *args: str):
    res = run_flow(*args, cwd=folder)
    assert "Traceback" not in res.stderr, res.stderr
    return res


def touch(path: Path) -> None:
    t = path.stat().st_mtime + 10
    os.utime(path, (t, t))


def test_dry_run_is_a_plan_with_reasons_examples_and_an_estimate_and_runs_nothing(tmp_path):
    photos = setup(tmp_path)
    first = flow(tmp_path, "run", "wf.yaml", "--dry-run")
    assert first.returncode == 0
    assert "plan (nothing is run): 19 to run, 0 up to date" in first.stdout
    assert "new: 6  (photos/photo_00.jpg, photos/photo_01.jpg" in first.stdout
    assert "estimated time: unknown" in first.stdout
    assert not (tmp_path / "out").exists() and not (tmp_path / "called.txt").exists()
    assert flow(tmp_path, "run", "wf.yaml", "--no-live").returncode == 0
    calls = (tmp_path / "called.txt").read_text()

    touch(photos[2])
    (tmp_path / "out" / "photo_04.png").unlink()
    (tmp_path / "marker.py").write_text(MARKER + "\n# edited\n")
    journal = tmp_path / ".flow" / "journal.db"
    before = journal.stat().st_mtime_ns
    plan = flow(tmp_path, "run", "wf.yaml", "--dry-run")
    assert plan.returncode == 0
    lines = plan.stdout.splitlines()
    block = {}
    for line in lines:
        if line.startswith("  ") and not line.startswith("      "):
            current = line.split()[0]
            block[current] = [line]
        elif line.startswith("      "):
            block[current].append(line.strip())
    assert "2 to run, 4 up to date" in block["small→save"][0]
    assert "source changed: 1  (photos/photo_02.jpg)" in block["small→save"]
    assert "output missing: 1  (photos/photo_04.jpg)" in block["small→save"]
    assert "6 to run, 0 up to date" in block["mark"][0]
    assert any(r.startswith("code changed: 6") for r in block["mark"])
    assert "1 to run, 5 up to date" in block["brightness"][0]
    assert "inputs changed: 1" in block["stats"]
    assert any(line.startswith("estimated time: about") for line in lines)
    # A plan runs no step and writes nothing.
    assert (tmp_path / "called.txt").read_text() == calls
    assert not (tmp_path / "out" / "photo_04.png").exists()
    assert journal.stat().st_mtime_ns == before


def test_explain_says_per_item_what_would_happen_and_why(tmp_path):
    photos = setup(tmp_path)
    flow(tmp_path, "run", "wf.yaml", "--no-live")
    touch(photos[1])
    res = flow(tmp_path, "explain", "wf.yaml", "photos/photo_01.jpg", "photos/photo_0[45].jpg")
    assert res.returncode == 0, res.stderr
    text = res.stdout
    assert "photos/photo_01.jpg\n  small→save: runs: source changed" in text
    assert "  brightness: runs: source changed" in text
    assert "photos/photo_04.jpg\n  small→save: up to date\n  mark: up to date" in text
    assert "photos/photo_05.jpg" in text and "photos/photo_00.jpg" not in text
    assert "all items together\n  stats: runs: inputs changed" in text
    missing = flow(tmp_path, "explain", "wf.yaml", "photos/nope.jpg")
    assert missing.returncode == 2 and "no item of plan matches 'photos/nope.jpg'" in \
        missing.stderr


CHECK_WF = """\
flow: 1
name: check
inputs:
  files: {glob: "items/*.txt"}
steps:
  - {id: check, from: files, uses: "py:checker:check"}
  - {id: all, uses: io.write, with: {to: "all.json", as_list: true}}
"""
CHECKER = """\
def check(path):
    with open(path) as fh:
        text = fh.read()
    if "bad" in text:
        raise ValueError("a bad item")
    return text
"""


def _check_run(folder: Path, *args: str) -> tuple[int, dict[str, tuple[int, int]], str]:
    res = flow(folder, "run", "wf.yaml", "--no-live", "--report", "r.json", *args)
    stages = {s["label"]: (s["done"], s["skipped"]) for s in
              json.loads((folder / "r.json").read_text())["stages"]}
    return res.returncode, stages, res.stdout


def _check_setup(folder: Path) -> None:
    (folder / "wf.yaml").write_text(CHECK_WF)
    (folder / "checker.py").write_text(CHECKER)
    (folder / "items").mkdir()
    for i in range(8):
        (folder / "items" / f"{i}.txt").write_text("bad" if i in (2, 5) else f"ok{i}")
    code, stages, out = _check_run(folder)
    assert code == 1 and stages == {"check": (6, 0), "all": (1, 0)}
    assert "add --only-failed to this command" in out


def test_only_failed_reruns_the_items_that_failed_after_their_data_is_mended(tmp_path):
    _check_setup(tmp_path)
    for i in (2, 5):
        (tmp_path / "items" / f"{i}.txt").write_text(f"mended{i}")
    touch(tmp_path / "items" / "7.txt")  # changed, but it did not fail: left for a full run
    plan = flow(tmp_path, "run", "wf.yaml", "--dry-run", "--only-failed")
    assert "failed last time: 2  (items/2.txt, items/5.txt)" in plan.stdout
    assert "not run (--only-failed): 1  (items/7.txt)" in plan.stdout
    code, stages, out = _check_run(tmp_path, "--only-failed")
    assert code == 0 and stages["check"] == (2, 6)
    assert "it takes items that --only-failed left out" in out  # the list waits for 7.txt
    assert "left for a full run: they did not fail last time (--only-failed)" in out
    code, stages, _ = _check_run(tmp_path)
    assert code == 0 and stages == {"check": (1, 7), "all": (1, 0)}
    assert json.loads((tmp_path / "all.json").read_text()) == [
        "ok0", "ok1", "mended2", "ok3", "ok4", "mended5", "ok6", "ok7"]


def test_only_failed_reruns_the_items_that_failed_after_the_code_is_mended(tmp_path):
    _check_setup(tmp_path)
    (tmp_path / "checker.py").write_text(CHECKER.replace('"bad" in text', '"worse" in text'))
    code, stages, _ = _check_run(tmp_path, "--only-failed")
    assert code == 0 and stages == {"check": (2, 6), "all": (0, 1)}
    code, stages, _ = _check_run(tmp_path)  # the others are redone by the new code too
    assert code == 0 and stages == {"check": (6, 2), "all": (1, 0)}
    assert json.loads((tmp_path / "all.json").read_text()) == [
        "ok0", "ok1", "bad", "ok3", "ok4", "bad", "ok6", "ok7"]
    assert _check_run(tmp_path)[1] == {"check": (0, 8), "all": (0, 1)}


def test_every_report_counts_the_skipped_items_and_an_up_to_date_run_says_so(tmp_path):
    setup(tmp_path)
    flow(tmp_path, "run", "wf.yaml", "--no-live")
    plain = flow(tmp_path, "run", "wf.yaml", "--no-live", "--report", "r.json")
    assert plain.returncode == 0
    assert plain.stdout.count("plan: up to date (19 items skipped) in") == 1
    assert "stage small→save: done in" in plain.stdout and "0 done, 0 failed, 6 skipped" in \
        plain.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert {s["label"]: s["skipped"] for s in report["stages"]} == {
        "small→save": 6, "mark": 6, "brightness": 6, "stats": 1}
    js = flow(tmp_path, "run", "wf.yaml", "--json")
    events = [json.loads(line) for line in js.stdout.splitlines()]
    assert sorted((e["done"], e["skipped"]) for e in events
                  if e["event"] == "stage_finished") == [(0, 1), (0, 6), (0, 6), (0, 6)]
    assert "plan: up to date (19 items skipped)" in js.stderr


def test_explain_names_a_number_of_a_range_and_its_stages_judged_as_a_whole(tmp_path):
    (tmp_path / "wf.yaml").write_text("""\
flow: 1
name: sq
inputs:
  xs: {range: {start: 0, stop: 100}}
steps:
  - {id: square, from: xs, uses: numeric.square}
  - {id: total, uses: numeric.sum}
""")
    before = flow(tmp_path, "explain", "wf.yaml", "5")
    assert "5 (from xs, judged with all its items as a whole)" in before.stdout
    assert "all items together\n  square: runs: new" in before.stdout
    flow(tmp_path, "run", "wf.yaml", "--no-live")
    after = flow(tmp_path, "explain", "wf.yaml", "5")
    assert "  square: up to date\n  total: up to date" in after.stdout
