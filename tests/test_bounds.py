"""Big and odd numbers in a workflow file, and a .flow folder that is not one: each gets
a clear answer from the real ``flow`` command, at the place it is written."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from runner.compile.load import MAX_NODES

SUM = """\
flow: 1
name: bounds
inputs:
  xs: {xs}
steps:
  - {{id: total, from: xs, uses: numeric.sum}}
  - {{id: out, uses: io.write, with: {{to: total.json}}}}
"""


def test_a_long_values_list_loads(tmp_path, flow):
    n = 100_000
    (tmp_path / "wf.yaml").write_text(SUM.format(xs="{values: [" + ", ".join(
        str(i) for i in range(n)) + "]}"))
    res = flow("run", "wf.yaml", "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr[-2000:]
    assert json.loads((tmp_path / "total.json").read_text()) == n * (n - 1) // 2


def test_a_values_list_past_the_bound_is_refused_by_size_not_called_an_alias_bomb(
        tmp_path, flow):
    (tmp_path / "wf.yaml").write_text(SUM.format(xs="\n    values: [" + ", ".join(
        "1" for _ in range(MAX_NODES + 10)) + "]"))
    res = flow("validate", "wf.yaml")
    assert res.returncode == 2
    assert f"error: the document holds more than {MAX_NODES} values" in res.stderr
    assert "alias" not in res.stderr and "Traceback" not in res.stderr
    assert "use a csv input" in res.stderr
    assert len(res.stderr) < 2000  # the 2 MB line is shown cut around the place


@pytest.mark.parametrize("xs, error", [
    ("{range: {stop: .nan}}", "wf.yaml:4:22: error: inputs.xs.range.stop: must be a finite "
                              "number, not nan"),
    ("{range: {stop: 10, step: .nan}}", "wf.yaml:4:32: error: inputs.xs.range.step: must be "
                                        "a finite number, not nan"),
    ("{range: .inf}", "wf.yaml:4:15: error: inputs.xs.range.stop: must be a finite number, "
                      "not inf"),
    ("{range: {start: -.inf, stop: 3}}", "wf.yaml:4:23: error: inputs.xs.range.start: must "
                                         "be a finite number, not -inf"),
    ("{range: 1e300}", "wf.yaml:4:15: error: inputs.xs.range.stop: a range of about 1e+300 "
                       "items is more than flow can count"),
])
def test_ranges_of_numbers_that_cannot_be_counted_are_refused_where_written(
        tmp_path, flow, xs, error):
    (tmp_path / "wf.yaml").write_text(SUM.format(xs=xs))
    for args in (["validate", "wf.yaml"], ["run", "wf.yaml", "--no-live"]):
        res = flow(*args)
        assert res.returncode == 2, res.stdout + res.stderr
        lines = [ln for ln in res.stderr.splitlines() if ": error: " in ln]
        assert len(lines) == 1 and lines[0].startswith(error), res.stderr
        assert "fed nothing" not in res.stderr and "Traceback" not in res.stderr


def test_exponents_without_a_dot_are_numbers_as_in_yaml_1_2(tmp_path, flow):
    (tmp_path / "wf.yaml").write_text(SUM.format(xs="{values: [1e3, 2.5E-1, 1.0e+1]}"))
    res = flow("run", "wf.yaml", "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads((tmp_path / "total.json").read_text()) == 1010.25
    (tmp_path / "wf.yaml").write_text(SUM.format(xs="{range: {start: 0, stop: 1e3, step: 1e2}}"))
    res = flow("run", "wf.yaml", "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads((tmp_path / "total.json").read_text()) == sum(range(0, 1000, 100))


@pytest.mark.parametrize("blocker", [".flow/tmp", ".flow"])
def test_a_flow_folder_that_is_a_file_is_said_once_before_anything_runs(
        tmp_path, flow, blocker):
    (tmp_path / "photos").mkdir()
    for i in range(3):
        Image.new("RGB", (40, 30), "blue").save(tmp_path / "photos" / f"p{i}.jpg")
    (tmp_path / "wf.yaml").write_text("""\
flow: 1
name: spill
inputs:
  photos: {glob: "photos/*.jpg"}
steps:
  - {id: small, from: photos, uses: image.thumbnail, with: {size: 8}}
  - {id: blur, uses: image.blur, parallel: {mode: serial}}
  - {id: save, uses: image.save, with: {to: "out/{stem}.png"}}
""")
    (tmp_path / blocker).parent.mkdir(exist_ok=True)
    (tmp_path / blocker).write_text("not a folder")
    res = flow("run", "wf.yaml", "--no-live")
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"error: {blocker} is not a folder" in res.stderr
    assert "internal error" not in res.stdout + res.stderr and not (tmp_path / "out").exists()
