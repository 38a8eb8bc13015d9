"""End to end: the `flow` command on real workflow files, real images, real processes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from PIL import Image

from tests.conftest import REPO
from tests.faults import beside


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_squares_example_sums_exactly(tmp_path, flow):
    shutil.copy(REPO / "workflows" / "squares.yaml", tmp_path / "squares.yaml")
    res = flow("run", "squares.yaml", "-p", "n=100000", "--no-live")
    assert res.returncode == 0, res.stderr
    total = json.loads((tmp_path / "build" / "squares" / "sum.json").read_text())
    assert total == sum(i * i for i in range(100000))
    assert "Traceback" not in res.stderr


def test_resize_example_fits_every_photo(tmp_path, flow, photos):
    shutil.copy(REPO / "workflows" / "resize.yaml", tmp_path / "resize.yaml")
    res = flow("run", "resize.yaml", "-p", "photos=photos", "-p", "size=100", "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    outs = sorted((tmp_path / "build" / "resized").glob("*.jpg"))
    assert [p.stem for p in outs] == [p.stem for p in photos]
    for p in outs:
        with Image.open(p) as im:
            assert max(im.size) == 100 and im.format == "JPEG"
            assert abs(im.size[0] / im.size[1] - 640 / 480) < 0.02


def test_mixed_image_and_numeric_workflow(tmp_path, flow, photos):
    shutil.copy(REPO / "workflows" / "thumbnails.yaml", tmp_path / "thumbnails.yaml")
    res = flow("run", "thumbnails.yaml", "-p", "photos=photos", "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    stats = json.loads((tmp_path / "build" / "thumbs" / "brightness.json").read_text())
    assert stats["count"] == len(photos)
    assert 0 < stats["min"] <= stats["mean"] <= stats["max"] < 255
    assert len(list((tmp_path / "build" / "thumbs").glob("photo_*.jpg"))) == len(photos)


def test_bad_image_fails_alone_and_exit_1(tmp_path, flow, photos):
    (tmp_path / "photos" / "broken.jpg").write_bytes(b"this is not a jpeg")
    write(tmp_path / "wf.yaml", """\
flow: 1
name: shrink
inputs:
  photos: {glob: "photos/*.jpg"}
steps:
  - id: shrink
    from: photos
    uses: image.thumbnail
    with: {size: 64}
  - id: save
    uses: image.save
    with: {to: "out/{stem}.png"}
""")
    res = flow("run", "wf.yaml", "--no-live", "--report", "report.json")
    assert res.returncode == 1
    assert len(list((tmp_path / "out").glob("*.png"))) == len(photos)
    assert "photos/broken.jpg" in res.stdout
    assert "Traceback" not in res.stdout + res.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert [f["item"] for f in report["failures"]] == ["photos/broken.jpg"]
    assert report["exit_code"] == 1


def test_on_error_stop_stops_and_names_the_item(tmp_path, flow):
    write(tmp_path / "wf.yaml", """\
flow: 1
name: stopper
inputs:
  xs: {values: [4, 1, -1, 9, 16]}
steps:
  - id: root
    from: xs
    uses: numeric.sqrt
    on_error: stop
    parallel: {mode: serial}
""")
    res = flow("run", "wf.yaml", "--no-live", "--report", "report.json")
    assert res.returncode == 1
    assert "stopped by: item 2 (-1)" in res.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["state"] == "stopped"
    # Serial runs in order: 4 and 1 were done, 9 and 16 (after the failure) never ran.
    assert [(s["done"], s["failed"]) for s in report["stages"]] == [(2, 1)]


def test_py_function_step_from_workflow_folder(tmp_path, flow):
    write(tmp_path / "mysteps.py", "def triple(value, add=0):\n    return value * 3 + add\n")
    write(tmp_path / "wf.yaml", """\
flow: 1
name: custom
inputs:
  xs: {range: {start: 0, stop: 50}}
steps:
  - id: t
    from: xs
    uses: py:mysteps:triple
    with: {add: 1}
  - id: total
    uses: numeric.sum
  - id: out
    uses: io.write
    with: {to: total.json}
""")
    res = flow("run", "wf.yaml", "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads((tmp_path / "total.json").read_text()) == sum(3 * i + 1 for i in range(50))


def test_json_events_are_json_lines(tmp_path, flow):
    shutil.copy(REPO / "workflows" / "squares.yaml", tmp_path / "squares.yaml")
    res = flow("run", "squares.yaml", "-p", "n=1000", "--json")
    assert res.returncode == 0, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    names = [e["event"] for e in events]
    assert names[0] == "run_started" and names[-1] == "run_finished"
    assert "stage_finished" in names


def test_invalid_workflow_exit_2_with_position_and_nothing_written(tmp_path, flow, photos):
    write(tmp_path / "wf.yaml", """\
flow: 1
name: typo
inputs:
  photos: {glob: "photos/*.jpg"}
steps:
  - id: fit
    from: photos
    uses: image.resize
    with: {widht: 100}
  - id: save
    uses: image.save
    with: {to: "out/{stemm}.jpg"}
""")
    res = flow("run", "wf.yaml", "--no-live")
    assert res.returncode == 2
    assert "wf.yaml:9:" in res.stderr and "did you mean 'width'" in res.stderr
    assert "did you mean 'stem'" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists()


def test_collision_refused_before_anything_is_written(tmp_path, flow):
    from tests.conftest import make_photos

    make_photos(tmp_path / "a", 1)
    make_photos(tmp_path / "b", 1)
    write(tmp_path / "wf.yaml", """\
flow: 1
name: clash
inputs:
  photos: {glob: "*/*.jpg"}
steps:
  - id: save
    from: photos
    uses: image.save
    with: {to: "out/{stem}.jpg"}
""")
    res = flow("run", "wf.yaml", "--no-live")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "a/photo_00.jpg" in res.stderr and "b/photo_00.jpg" in res.stderr
    assert not (tmp_path / "out").exists()


def test_graph_formats(tmp_path, flow):
    shutil.copy(REPO / "workflows" / "thumbnails.yaml", tmp_path / "t.yaml")
    text = flow("graph", "t.yaml")
    assert text.returncode == 0, text.stderr
    assert "orient→shrink→save" in text.stdout and "summary→write" in text.stdout
    mer = flow("graph", "t.yaml", "--format", "mermaid")
    assert mer.stdout.startswith("flowchart LR")
    dot = flow("graph", "t.yaml", "--format", "dot")
    assert dot.stdout.startswith("digraph")


def test_steps_and_schema_commands(tmp_path, flow):
    listing = flow("steps")
    assert listing.returncode == 0
    for name in ("image.resize", "numeric.stats", "io.write", "util.sleep"):
        assert name in listing.stdout
    one = flow("steps", "image.resize")
    assert "width" in one.stdout and "fit" in one.stdout
    schema = json.loads(flow("schema").stdout)
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema)
    editor = Draft202012Validator(schema)
    for name in ("resize.yaml", "squares.yaml", "thumbnails.yaml"):  # ${param}s in value slots
        doc = yaml.safe_load((REPO / "workflows" / name).read_text())
        assert list(editor.iter_errors(doc)) == [], name
    doc["steps"][1]["with"] = {"sise": 64}  # thumbnails' image.thumbnail, its argument misspelt
    assert list(editor.iter_errors(doc))
    bad = flow("steps", "image.rezise")
    assert bad.returncode == 2 and "image.resize" in bad.stderr


def test_validate_many_files_reports_all(tmp_path, flow):
    write(tmp_path / "good.yaml", (REPO / "workflows" / "squares.yaml").read_text())
    write(tmp_path / "bad.yaml", "flow: 1\nname: Bad Name\ninputs: {}\nsteps: []\n")
    res = flow("validate", "good.yaml", "bad.yaml")
    assert res.returncode == 2
    assert "good.yaml: ok" in res.stdout
    assert "bad.yaml:2:" in res.stderr


def _counts(stdout: str) -> tuple[int, int]:
    """(done, skipped) from the summary's stage row of a one-stage run."""
    row = next(line for line in stdout.splitlines() if line.strip().startswith("fit→save"))
    cells = row.split()
    return int(cells[2]), int(cells[4])


def test_rerun_skips_up_to_date_items_and_redoes_changed_ones(tmp_path, flow, photos):
    shutil.copy(REPO / "workflows" / "resize.yaml", tmp_path / "resize.yaml")
    args = ("run", "resize.yaml", "-p", "photos=photos", "--no-live")
    first = flow(*args)
    assert first.returncode == 0 and _counts(first.stdout) == (len(photos), 0)
    out = tmp_path / "build" / "resized" / "photo_00.jpg"
    made = out.stat().st_mtime_ns
    again = flow(*args)
    assert again.returncode == 0 and _counts(again.stdout) == (0, len(photos))
    assert out.stat().st_mtime_ns == made  # not rewritten
    import os
    later = photos[0].stat().st_mtime + 10
    os.utime(photos[0], (later, later))  # a newer source is redone, alone
    assert _counts(flow(*args).stdout) == (1, len(photos) - 1)
    # Other arguments make other outputs: everything is redone.
    assert _counts(flow(*args, "-p", "size=64").stdout) == (len(photos), 0)
    assert _counts(flow(*args, "-p", "size=64", "--force").stdout) == (len(photos), 0)
    out.unlink()  # a missing output is made again
    assert _counts(flow(*args, "-p", "size=64").stdout) == (1, len(photos) - 1)


def test_images_cross_a_stage_boundary_and_feed_a_contact_sheet(tmp_path, flow, photos):
    write(tmp_path / "wf.yaml", """\
flow: 1
name: boundary
inputs:
  photos: {glob: "photos/*.jpg"}
steps:
  - id: gray
    from: photos
    uses: image.grayscale
  - id: shrink
    uses: image.thumbnail
    with: {size: 40}
    parallel: {mode: async}
  - id: sheet
    uses: image.contact_sheet
    with: {to: "sheet.png", columns: 3, tile: 40}
""")
    graph = flow("graph", "wf.yaml")
    # "  s2  shrink  [map, async×auto]  <- s1": a stage (label, then its source) per line.
    stages = {cells[1]: cells[-1] for cells in (line.split() for line in graph.stdout.splitlines()
                                                if line.startswith("  s"))}
    assert stages["gray"] == "photos" and stages["shrink"] == "s1"  # images travel between
    res = flow("run", "wf.yaml", "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    with Image.open(tmp_path / "sheet.png") as sheet:
        assert sheet.size == (3 * 40, 2 * 40)
        from PIL import ImageChops

        r, g, b = sheet.crop((0, 0, 40, 30)).convert("RGB").split()
        # The grey tiles arrived: no channel differs anywhere.
        assert ImageChops.difference(r, g).getbbox() is None
        assert ImageChops.difference(g, b).getbbox() is None
        assert r.getextrema()[1] > 0
    assert not any((tmp_path / ".flow" / "tmp").rglob("*"))  # spilled images removed


PIDS_WF = """\
flow: 1
name: pids
inputs:
  xs: {range: {start: 0, stop: 40}}
steps:
  - id: who
    from: xs
    uses: py:tests.faults:pid
    parallel: {workers: %s, chunksize: 1}
  - id: out
    uses: io.write
    with: {to: pids.json, as_list: true}
"""


def _run_pids(tmp_path, flow, workers: str, count: int, *args: str) -> tuple[int, str, set[int]]:
    """Run PIDS_WF on ``count`` items: the workers its JSON reports for the stage, the
    stage's row of the summary table, and the worker pids that ran the items."""
    write(tmp_path / "wf.yaml", PIDS_WF.replace("stop: 40", f"stop: {count}") % workers)
    beside(tmp_path)
    res = flow("run", "wf.yaml", "--json", "--force", *args)
    assert res.returncode == 0, res.stdout + res.stderr
    started = json.loads(res.stdout.splitlines()[0])
    assert started["event"] == "run_started"
    row = next(line.split() for line in res.stderr.splitlines() if line.split()[:1] == ["who"])
    return started["stages"][0]["workers"], row[1], set(json.loads(
        (tmp_path / "pids.json").read_text()))


def test_jobs_caps_worker_processes_and_auto_uses_the_cores(tmp_path, flow):
    import os

    cores = len(os.sched_getaffinity(0))
    workers, mode, pids = _run_pids(tmp_path, flow, "8", 40, "-j", "1")
    assert (workers, mode, len(pids)) == (1, "map×1", 1)
    # auto: the usable CPUs, never more than the items, never more than -j.
    for count, args, want in [(6, (), min(cores, 6)), (6, ("-j", "1"), 1),
                              (6, ("-j", "8"), min(cores, 6)), (1, (), 1)]:
        workers, mode, pids = _run_pids(tmp_path, flow, "auto", count, *args)
        assert (workers, mode) == (want, f"map×{want}"), (count, args)
        assert 1 <= len(pids) <= want, (count, args, pids)


def test_plain_lines_when_stdout_is_not_a_terminal(tmp_path, flow):
    shutil.copy(REPO / "workflows" / "squares.yaml", tmp_path / "squares.yaml")
    res = flow("run", "squares.yaml", "-p", "n=1000")  # captured: not a terminal
    assert res.returncode == 0, res.stderr
    assert "\x1b[" not in res.stdout  # no terminal control codes
    assert "stage square: started, 1000 items" in res.stdout


def test_live_table_on_a_terminal(tmp_path):
    """Under a real pseudo-terminal flow draws the rich table, a row per stage."""
    from tests.terminal import run_on_terminal

    shutil.copy(REPO / "workflows" / "squares.yaml", tmp_path / "squares.yaml")
    code, screen = run_on_terminal(tmp_path, "run", "squares.yaml", "-p", "n=100000")
    assert code == 0
    assert "\x1b[" in screen  # drawn with terminal control codes
    for text in ("squares · 2 stages", "progress", "square", "map×2", "total→write", "done"):
        assert text in screen, text
