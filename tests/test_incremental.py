"""Re-runs through the real `flow` command: every stage skips what is up to date, exactly.

Each test runs a workflow twice or more in one folder and reads what each stage did
from the ``--report`` file (done, failed, skipped per stage) and from the files on
disk: a value kept from the first run must be the value a fresh run computes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from tests import faults
from tests.conftest import make_photos, run_flow

BRIGHTNESS_WF = """\
flow: 1
name: bright
inputs:
  photos: {glob: "photos/*.jpg"}
steps:
  - {id: shrink, from: photos, uses: image.thumbnail, with: {size: 32}}
  - {id: save, uses: image.save, with: {to: "thumbs/{stem}.png"}}
  - {id: brightness, from: photos, uses: image.measure, with: {what: brightness}}
  - {id: summary, uses: numeric.stats}
  - {id: write, uses: io.write, with: {to: "stats.json"}}
"""


def run(folder: Path, *args: str, wf: str = "wf.yaml") -> dict[str, tuple[int, int, int]]:
    """``flow run`` in ``folder``; (done, failed, skipped) of each stage, by label."""
    res = run_flow("run", wf, "--no-live", "--report", "report.json", *args, cwd=folder)
    assert res.returncode in (0, 1), res.stdout + res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    doc = json.loads((folder / "report.json").read_text())
    return {s["label"]: (s["done"], s["failed"], s["skipped"]) for s in doc["stages"]}


def setup(folder: Path, text: str, photos: int = 5) -> list[Path]:
    (folder / "wf.yaml").write_text(text)
    return make_photos(folder / "photos", count=photos, size=(160, 120))


def touch(path: Path, later: float = 10) -> None:
    t = path.stat().st_mtime + later
    os.utime(path, (t, t))


def test_nothing_changed_nothing_runs_and_the_reduce_output_is_not_rewritten(tmp_path):
    setup(tmp_path, BRIGHTNESS_WF)
    first = run(tmp_path)
    assert first == {"shrink→save": (5, 0, 0), "brightness": (5, 0, 0),
                     "summary→write": (1, 0, 0)}
    stats = tmp_path / "stats.json"
    made, content = stats.stat().st_mtime_ns, stats.read_text()
    again = run(tmp_path)
    assert again == {"shrink→save": (0, 0, 5), "brightness": (0, 0, 5),
                     "summary→write": (0, 0, 1)}
    assert stats.stat().st_mtime_ns == made and stats.read_text() == content


def test_touching_one_photo_recomputes_one_brightness_and_the_stats_from_kept_values(tmp_path):
    photos = setup(tmp_path, BRIGHTNESS_WF)
    run(tmp_path)
    with Image.open(photos[2]) as im:  # a new picture under the same name
        im.transpose(Image.Transpose.FLIP_TOP_BOTTOM).point(lambda v: v // 2).save(photos[2])
    touch(photos[2])
    counts = run(tmp_path)
    assert counts == {"shrink→save": (1, 0, 4), "brightness": (1, 0, 4),
                      "summary→write": (1, 0, 0)}
    kept = json.loads((tmp_path / "stats.json").read_text())
    run(tmp_path, "--force")  # every brightness computed afresh
    assert json.loads((tmp_path / "stats.json").read_text()) == kept
    assert kept["count"] == 5


def test_editing_a_py_step_reruns_the_steps_that_use_it_and_only_those(tmp_path):
    setup(tmp_path, """\
flow: 1
name: code
inputs:
  photos: {glob: "photos/*.jpg"}
steps:
  - {id: lift, from: photos, uses: "py:brighten:lift"}
  - {id: save, uses: image.save, with: {to: "lifted/{stem}.png"}}
  - {id: gray, from: photos, uses: image.grayscale}
  - {id: keep, uses: image.save, with: {to: "gray/{stem}.png"}}
""", photos=3)
    module = tmp_path / "brighten.py"
    module.write_text("from PIL import Image\n\ndef lift(path):\n"
                      "    with Image.open(path) as im:\n"
                      "        return im.point(lambda v: min(255, v + 10))\n")
    assert run(tmp_path) == {"lift→save": (3, 0, 0), "gray→keep": (3, 0, 0)}
    before = Image.open(tmp_path / "lifted" / "photo_00.png").getpixel((5, 5))
    module.write_text(module.read_text().replace("v + 10", "v + 60"))
    assert run(tmp_path) == {"lift→save": (3, 0, 0), "gray→keep": (0, 0, 3)}
    after = Image.open(tmp_path / "lifted" / "photo_00.png").getpixel((5, 5))
    assert after != before  # the outputs are the new code's, not stale ones


def test_index_named_outputs_are_redone_when_the_items_shift(tmp_path):
    photos = setup(tmp_path, """\
flow: 1
name: shift
inputs:
  photos: {glob: "photos/*.jpg"}
steps:
  - {id: small, from: photos, uses: image.thumbnail, with: {size: 16}}
  - {id: save, uses: image.save, with: {to: "build/{index}.png"}}
""")
    assert run(tmp_path) == {"small→save": (5, 0, 0)}
    photos[0].unlink()  # photo_01 is now item 0, photo_02 item 1 ...
    assert run(tmp_path) == {"small→save": (4, 0, 0)}
    looks = [_look(p) for p in photos[1:]]
    for index in range(len(looks)):  # each output now shows its new item's photo
        with Image.open(tmp_path / "build" / f"{index}.png") as out:
            got = out.convert("RGB").resize((8, 8)).tobytes()
        closest = min(range(len(looks)), key=lambda i: _distance(looks[i], got))
        assert closest == index
    assert run(tmp_path) == {"small→save": (0, 0, 4)}


def _look(photo: Path) -> bytes:
    with Image.open(photo) as im:
        im.thumbnail((16, 16))
        return im.convert("RGB").resize((8, 8)).tobytes()


def _distance(a: bytes, b: bytes) -> int:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True))


def test_an_output_removed_or_replaced_is_made_again(tmp_path):
    setup(tmp_path, BRIGHTNESS_WF)
    run(tmp_path)
    (tmp_path / "thumbs" / "photo_01.png").unlink()
    Image.new("RGB", (4, 4)).save(tmp_path / "thumbs" / "photo_03.png")  # someone else's
    (tmp_path / "stats.json").write_text("{}")
    assert run(tmp_path) == {"shrink→save": (2, 0, 3), "brightness": (0, 0, 5),
                             "summary→write": (1, 0, 0)}
    assert json.loads((tmp_path / "stats.json").read_text())["count"] == 5


def test_a_range_reduce_is_kept_and_reruns_when_the_range_or_a_setting_changes(tmp_path):
    (tmp_path / "wf.yaml").write_text("""\
flow: 1
name: squares
params: {n: 1000, k: 2}
inputs:
  xs: {range: {start: 0, stop: "${n}"}}
steps:
  - {id: square, from: xs, uses: numeric.power, with: {exponent: "${k}"}}
  - {id: total, uses: numeric.sum}
  - {id: write, uses: io.write, with: {to: total.json}}
""")
    assert run(tmp_path) == {"square": (1000, 0, 0), "total→write": (1, 0, 0)}
    res = run_flow("run", "wf.yaml", "--no-live", cwd=tmp_path)
    assert "squares: up to date (1001 items skipped)" in res.stdout
    assert json.loads((tmp_path / "total.json").read_text()) == sum(i * i for i in range(1000))
    assert run(tmp_path, "-p", "n=10") == {"square": (10, 0, 0), "total→write": (1, 0, 0)}
    assert json.loads((tmp_path / "total.json").read_text()) == sum(i * i for i in range(10))
    assert run(tmp_path, "-p", "n=10", "-p", "k=3") == {"square": (10, 0, 0),
                                                        "total→write": (1, 0, 0)}
    assert run(tmp_path, "-p", "n=10", "-p", "k=3") == {"square": (0, 0, 10),
                                                        "total→write": (0, 0, 1)}


def test_a_values_input_writing_a_file_per_item_runs_only_new_values(tmp_path):
    text = """\
flow: 1
name: vals
params: {xs: [1, 2, 3]}
inputs:
  xs: {values: "${xs}"}
steps:
  - {id: sq, from: xs, uses: numeric.square}
  - {id: save, uses: io.write, with: {to: "sq.json", as_list: true}}
  - {id: each, from: xs, uses: "py:tests.faults:add", with: {n: 1}}
"""
    (tmp_path / "wf.yaml").write_text(text)
    faults.beside(tmp_path)  # py: reaches only the workflow's folder
    first = run(tmp_path)
    assert first["sq"] == (3, 0, 0) and first["save"] == (1, 0, 0)
    assert run(tmp_path, "-p", "xs=[1, 2, 3]") == {"sq": (0, 0, 3), "save": (0, 0, 1),
                                                   "each": (0, 0, 3)}
    changed = run(tmp_path, "-p", "xs=[1, 2, 3, 4]")
    assert changed["save"] == (1, 0, 0)
    assert json.loads((tmp_path / "sq.json").read_text()) == [1, 4, 9, 16]


def test_images_between_stages_are_made_again_only_when_a_later_step_needs_them(tmp_path):
    photos = setup(tmp_path, """\
flow: 1
name: sheet
inputs:
  photos: {glob: "photos/*.jpg"}
steps:
  - {id: gray, from: photos, uses: image.grayscale}
  - {id: shrink, uses: image.thumbnail, with: {size: 20}, parallel: {mode: async}}
  - {id: sheet, uses: image.contact_sheet, with: {to: "sheet.png", columns: 5, tile: 20}}
""", photos=4)
    assert run(tmp_path) == {"gray": (4, 0, 0), "shrink": (4, 0, 0), "sheet": (1, 0, 0)}
    assert run(tmp_path) == {"gray": (0, 0, 4), "shrink": (0, 0, 4), "sheet": (0, 0, 1)}
    touch(photos[1])  # the sheet needs every tile again: the images were not kept
    assert run(tmp_path) == {"gray": (4, 0, 0), "shrink": (4, 0, 0), "sheet": (1, 0, 0)}
    assert not any((tmp_path / ".flow" / "tmp").rglob("*"))


@pytest.mark.parametrize("mode", ["map", "serial"])
def test_an_edit_that_keeps_the_files_size_and_second_runs_the_new_code(
        tmp_path, monkeypatch, mode):
    """Python's bytecode cache judges a module by its size and its mtime in whole seconds:
    an edit that keeps both (a quick save, a checkout, ``cp -p``) must still run the new
    code, not the cached old one."""
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)  # caches written, as usual
    (tmp_path / "wf.yaml").write_text(f"""\
flow: 1
name: edit
inputs:
  n: {{range: {{start: 0, stop: 4}}}}
steps:
  - {{id: lift, from: n, uses: "py:lifting:lift", parallel: {{mode: {mode}}}}}
  - {{id: total, uses: numeric.sum}}
""")
    module = tmp_path / "lifting.py"
    module.write_text("def lift(v):\n    return v + 10\n")
    res = run_flow("run", "wf.yaml", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert _total(res) == 46
    stamp = module.stat().st_mtime_ns
    module.write_text("def lift(v):\n    return v + 60\n")
    os.utime(module, ns=(stamp, stamp))
    res = run_flow("run", "wf.yaml", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert _total(res) == 246  # the new code's: 0+1+2+3 + 4*60


def _total(res) -> float:
    end = [json.loads(line) for line in res.stdout.splitlines() if '"run_finished"' in line]
    return end[-1]["result"]["results"]["total"]
