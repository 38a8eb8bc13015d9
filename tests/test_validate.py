"""From a workflow file to a validated Workflow: every error a user can make, at once.

The files are real YAML files in tmp_path; each test asserts the exact
``file:line:col: error: path: message`` a user would read, against the real
built-in steps and their own argument schemas.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from runner.compile.build import load_workflow
from runner.compile.schema import base_schema, workflow_schema
from runner.errors import FlowError, Problem
from runner.model import CsvSource, GlobSource, Parallel, RangeSource, ValuesSource, Workflow
from steps.registry import load_registry
from tests.timing import limit

REG = load_registry()

HEAD = """\
flow: 1
name: demo
inputs:
  photos: {glob: "photos/*.jpg"}
  nums: {values: [1, 2, 3]}
steps:
"""  # steps written after HEAD start on line 7


def write(tmp_path, text: str, name: str = "wf.yaml") -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return name


def load(tmp_path, monkeypatch, text: str, **kw) -> Workflow:
    monkeypatch.chdir(tmp_path)
    return load_workflow(write(tmp_path, text), **kw)


def problems(tmp_path, monkeypatch, text: str, **kw) -> list[Problem]:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FlowError) as info:
        load_workflow(write(tmp_path, text), **kw)
    assert info.value.exit_code == 2
    return info.value.problems


def errors(tmp_path, monkeypatch, text: str, **kw) -> list[str]:
    return [p.headline() for p in problems(tmp_path, monkeypatch, text, **kw)]


# -- a valid file -----------------------------------------------------------------------------

SPEC_EXAMPLE = """\
flow: 1
name: thumbnails
description: Web thumbnails of every photo, and their brightness.
params:
  size: 256
  out: build/thumbs
defaults:
  parallel: {workers: auto}
  retries: 1
inputs:
  photos:
    glob: ["photos/**/*.jpg", "photos/**/*.png"]
    exclude: ["**/_*"]
steps:
  - id: orient
    from: photos
    uses: image.auto_orient
  - id: shrink
    uses: image.thumbnail
    with:
      size: ${size}
  - id: save
    uses: image.save
    with: {to: "${out}/{stem}.jpg", quality: 85}
    parallel: {mode: map, workers: 2, chunksize: auto}
  - id: brightness
    from: photos
    uses: image.measure
    with: {what: brightness}
  - id: summary
    uses: numeric.stats
  - id: write
    uses: io.write
    with: {to: "${out}/summary.json"}
"""


def test_spec_example_loads_into_the_frozen_model(tmp_path, monkeypatch):
    wf = load(tmp_path, monkeypatch, SPEC_EXAMPLE)
    assert wf.name == "thumbnails" and wf.path == str(tmp_path / "wf.yaml")
    assert wf.workdir == str(tmp_path)
    assert wf.params == (("size", 256), ("out", "build/thumbs"))
    (photos,) = wf.inputs
    assert photos.source == GlobSource(("photos/**/*.jpg", "photos/**/*.png"), ("**/_*",))
    assert str(photos.pos) == "wf.yaml:12:11"
    ids = [s.id for s in wf.steps]
    assert ids == ["orient", "shrink", "save", "brightness", "summary", "write"]
    assert [s.sources for s in wf.steps] == [("photos",), ("orient",), ("shrink",),
                                            ("photos",), ("brightness",), ("summary",)]
    shrink, save, write_ = wf.step("shrink"), wf.step("save"), wf.step("write")
    assert shrink.args.as_dict() == {"size": 256}  # ${size} alone keeps the int
    assert save.args.as_dict() == {"to": "build/thumbs/{stem}.jpg", "quality": 85}
    assert save.outputs == ("to",) and save.takes == "image" and save.gives == "path"
    assert save.ref == "steps.image:save"  # how a worker finds the function
    assert save.parallel == Parallel("map", 2, None)  # auto -> None
    assert shrink.parallel == Parallel("map", None, None) and shrink.retries == 1
    assert [s.kind for s in wf.steps] == ["map", "map", "map", "map", "reduce", "reduce"]
    assert write_.args.get("to") == "build/thumbs/summary.json"
    assert str(save.pos) == "wf.yaml:22:5"
    hash(save)  # the model is frozen and hashable, args included


def test_params_from_the_command_line_keep_yaml_types(tmp_path, monkeypatch):
    wf = load(tmp_path, monkeypatch, SPEC_EXAMPLE, params={"size": "[64, 48]", "out": "web"})
    assert wf.step("shrink").args.get("size") == (64, 48)
    assert wf.step("save").args.get("to") == "web/{stem}.jpg"
    assert dict(wf.params) == {"size": (64, 48), "out": "web"}


def test_defaults_merge_parallel_key_by_key(tmp_path, monkeypatch):
    wf = load(tmp_path, monkeypatch, HEAD + """\
  - {id: a, from: nums, uses: numeric.square, parallel: {mode: async}, retries: 0}
  - {id: b, uses: numeric.square, timeout: 2}
  - {id: total, uses: numeric.sum, parallel: {mode: serial, workers: 1}}
defaults:
  parallel: {workers: 3, chunksize: 100}
  retries: 2
  timeout: 9.5
  on_error: stop
""")
    a, b, total = wf.steps
    assert a.parallel == Parallel("async", 3, 100) and a.retries == 0 and a.timeout == 9.5
    assert b.parallel == Parallel("map", 3, 100) and b.retries == 2 and b.timeout == 2.0
    assert total.parallel == Parallel("serial", 1, 100) and total.on_error == "stop"


def test_every_input_kind(tmp_path, monkeypatch):
    wf = load(tmp_path, monkeypatch, """\
flow: 1
name: kinds
inputs:
  a: {glob: "*.png", allow_empty: true}
  b: {range: {start: 1, stop: 10, step: 2}}
  c: {range: 5}
  d: {values: [1, two, 3.5]}
  e: {csv: {path: data.csv, column: price}}
  f: {csv: {glob: "*.csv", column: 0, header: false}}
steps:
  - {id: s, from: [b, c, d], uses: numeric.square}
""")
    assert [i.source for i in wf.inputs] == [
        GlobSource(("*.png",), (), True), RangeSource(1, 10, 2), RangeSource(0, 5, 1),
        ValuesSource((1, "two", 3.5)), CsvSource("data.csv", None, "price", True),
        CsvSource(None, "*.csv", 0, False)]
    assert wf.steps[0].sources == ("b", "c", "d")  # concatenated in that order


def test_executor_section(tmp_path, monkeypatch):
    wf = load(tmp_path, monkeypatch, HEAD + "  - {id: a, from: nums, uses: numeric.square}\n"
              "executor: {kind: dask, address: 'tcp://10.0.0.1:8786'}\n")
    assert (wf.executor.kind, wf.executor.address) == ("dask", "tcp://10.0.0.1:8786")


# -- one error each: (what the file says, what the user reads) ----------------------------------

CASES = {
    "unknown argument": (
        "  - id: orient\n    from: photos\n    uses: image.auto_orient\n"
        "  - id: resize\n    uses: image.resize\n    with:\n      widht: 100\n",
        ["wf.yaml:13:7: error: steps[1].with: unknown argument 'widht' "
         "(did you mean 'width'?)"]),
    "one of two arguments needed": (
        "  - {id: r, from: photos, uses: image.resize, with: {fit: cover}}\n",
        ["wf.yaml:7:53: error: steps[0].with: missing required argument 'width' or 'height'"]),
    "wrong type and enum: one error": (
        "  - {id: r, from: photos, uses: image.resize, with: {width: 5, fit: [cover]}}\n",
        ["wf.yaml:7:69: error: steps[0].with.fit: expected a string, got a list"]),
    "wrong argument type": (
        "  - {id: r, from: photos, uses: image.resize, with: {width: abc}}\n",
        ["wf.yaml:7:61: error: steps[0].with.width: expected an integer, got 'abc'"]),
    "missing required argument": (
        "  - {id: w, from: nums, uses: io.write}\n",
        ["wf.yaml:7:5: error: steps[0].with: missing required argument 'to'"]),
    "int or list": (
        "  - {id: t, from: photos, uses: image.thumbnail, with: {size: big}}\n"
        "  - {id: u, from: photos, uses: image.thumbnail, with: {size: [10]}}\n",
        ["wf.yaml:7:63: error: steps[0].with.size: expected an integer or a list, got 'big'",
         "wf.yaml:8:63: error: steps[1].with.size: must have at least 2 items"]),
    "enum with did you mean": (
        "  - {id: r, from: photos, uses: image.resize, with: {width: 9, fit: covr}}\n",
        ["wf.yaml:7:69: error: steps[0].with.fit: must be one of contain, cover, stretch, pad, "
         "got 'covr' (did you mean 'cover'?)"]),
    "unknown step": (
        "  - {id: r, from: photos, uses: image.resise}\n",
        ["wf.yaml:7:33: error: steps[0].uses: unknown step 'image.resise' "
         "(did you mean 'image.resize'?)"]),
    "unknown step key": (
        "  - {id: r, from: nums, uses: numeric.square, retires: 2}\n",
        ["wf.yaml:7:47: error: steps[0]: unknown key 'retires' (did you mean 'retries'?)"]),
    "missing id and uses": (
        "  - from: nums\n",
        ["wf.yaml:7:5: error: steps[0]: missing required key 'id'",
         "wf.yaml:7:5: error: steps[0]: missing required key 'uses'"]),
    "parallel settings": (
        "  - id: a\n    from: nums\n    uses: numeric.square\n"
        "    parallel: {mode: mapp, workers: 0, chunksize: lots}\n"
        "    retries: -1\n    timeout: 0\n    on_error: ignore\n",
        ["wf.yaml:10:22: error: steps[0].parallel.mode: must be one of map, async, serial, "
         "got 'mapp' (did you mean 'map'?)",
         "wf.yaml:10:37: error: steps[0].parallel.workers: must be at least 1, got 0",
         "wf.yaml:10:51: error: steps[0].parallel.chunksize: expected an integer or auto, "
         "got 'lots'",
         "wf.yaml:11:14: error: steps[0].retries: must be at least 0, got -1",
         "wf.yaml:12:14: error: steps[0].timeout: must be more than 0, got 0",
         "wf.yaml:13:15: error: steps[0].on_error: must be one of continue, stop, got 'ignore'"]),
    "unknown param": (
        "  - {id: t, from: photos, uses: image.thumbnail, with: {size: '${sizee}'}}\n"
        "params: {size: 128}\n",
        ["wf.yaml:7:63: error: steps[0].with.size: unknown param 'sizee' "
         "(did you mean 'size'?)"]),
    "unknown per-item field": (
        "  - {id: s, from: photos, uses: image.save, with: {to: 'out/{stemm}.jpg'}}\n",
        ["wf.yaml:7:56: error: steps[0].with.to: unknown per-item field {stemm} "
         "(did you mean 'stem'?)"]),
    "per-item field in a reduce output": (
        "  - {id: w, from: nums, uses: io.write, with: {to: 'out/{stem}.json'}}\n",
        ["wf.yaml:7:52: error: steps[0].with.to: a reduce step writes one file: per-item "
         "field {stem} has no meaning here"]),
    "output escapes": (
        "  - {id: s, from: photos, uses: image.save, with: {to: '../{stem}.jpg'}}\n"
        "  - {id: w, from: nums, uses: io.write, with: {to: /tmp/all.json}}\n",
        ["wf.yaml:7:56: error: steps[0].with.to: output path escapes the working directory: "
         "'../{stem}.jpg'",
         "wf.yaml:8:52: error: steps[1].with.to: output path escapes the working directory: "
         "'/tmp/all.json'"]),
    "unknown from": (
        "  - {id: a, from: numz, uses: numeric.square}\n",
        ["wf.yaml:7:19: error: steps[0].from: unknown input or step 'numz' "
         "(did you mean 'nums'?)"]),
    "forward reference and self": (
        "  - {id: a, from: [nums, b], uses: numeric.square}\n"
        "  - {id: b, from: b, uses: numeric.square}\n",
        ["wf.yaml:7:26: error: steps[0].from: cycle or forward reference: step 'b' is below "
         "this one",
         "wf.yaml:8:19: error: steps[1].from: cycle or forward reference: step 'b' cannot "
         "take from itself"]),
    "first step without from": (
        "  - {id: a, uses: numeric.square}\n",
        ["wf.yaml:7:5: error: steps[0]: the first step must say where its items come from"]),
    "duplicate step id and input name": (
        "  - {id: a, from: nums, uses: numeric.square}\n"
        "  - {id: a, uses: numeric.square}\n"
        "  - {id: nums, uses: numeric.square}\n",
        ["wf.yaml:8:10: error: steps[1].id: duplicate step id 'a' (first at line 7)",
         "wf.yaml:9:10: error: steps[2].id: step id 'nums' is also an input name"]),
    "reduce fed nothing": (
        "  - {id: total, from: none, uses: numeric.sum}\n"
        "  - {id: again, uses: numeric.sum}\n"
        "  - {id: later, from: [nums, none], uses: numeric.sum}\n"
        "inputs:\n  nums: {values: [1]}\n  none: {range: {start: 5, stop: 1}}\n",
        ["wf.yaml:7:5: error: steps[0]: reduce step 'total' is fed nothing: its upstream "
         "(none) can never yield an item"]),
    "bad step id": (
        "  - {id: Resize, from: nums, uses: numeric.square}\n",
        ["wf.yaml:7:10: error: steps[0].id: must start with a lowercase letter and hold only "
         "lowercase letters, digits, '-' and '_', got 'Resize'"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_error_once_with_its_place(tmp_path, monkeypatch, case):
    steps, expected = CASES[case]
    text = HEAD + steps
    if "\ninputs:" in steps:  # the case brings its own inputs
        text = text.replace('inputs:\n  photos: {glob: "photos/*.jpg"}\n'
                            '  nums: {values: [1, 2, 3]}\n', "", 1)
        lines = 3  # the removed lines move every step up
        expected = [_shift(e, -lines) for e in expected]
    assert errors(tmp_path, monkeypatch, text) == expected


def _shift(headline: str, by: int) -> str:
    file, line, rest = headline.split(":", 2)
    return f"{file}:{int(line) + by}:{rest}"


# -- the top level and inputs -----------------------------------------------------------------

def test_top_level_schema_errors(tmp_path, monkeypatch):
    errs = errors(tmp_path, monkeypatch, "flow: 2\nname: My Flow\nstpes: []\n")
    assert errs == [
        "wf.yaml:1:1: error: missing required key 'inputs'",  # not 'steps': misspelt below
        "wf.yaml:1:7: error: flow: must be 1, got 2",
        "wf.yaml:2:7: error: name: must start with a lowercase letter and hold only lowercase "
        "letters, digits, '-' and '_', got 'My Flow'",
        "wf.yaml:3:1: error: unknown key 'stpes' (did you mean 'steps'?)",
    ]


def test_input_errors(tmp_path, monkeypatch):
    errs = errors(tmp_path, monkeypatch, """\
flow: 1
name: demo
inputs:
  both: {glob: "*.jpg", values: [1]}
  none: {exclude: "*.png"}
  bad: {range: {start: 0, stop: ten, step: 0}}
  table: {csv: {path: a.csv, glob: "*.csv", column: x}}
  pics: {glob: 5, alow_empty: true}
steps:
  - {id: a, from: both, uses: numeric.square}
""")
    assert errs == [
        "wf.yaml:4:25: error: inputs.both: has more than one source (glob and values); "
        "an input takes exactly one",
        "wf.yaml:5:9: error: inputs.none: needs one source: glob, range, values or csv",
        "wf.yaml:6:33: error: inputs.bad.range.stop: expected a number, got 'ten'",
        "wf.yaml:6:44: error: inputs.bad.range.step: must not be 0, got 0",
        "wf.yaml:7:16: error: inputs.table.csv: needs exactly one of path and glob",
        "wf.yaml:8:16: error: inputs.pics.glob: expected a string or a list, got 5",
        "wf.yaml:8:19: error: inputs.pics: unknown key 'alow_empty' (did you mean "
        "'allow_empty'?)",
    ]


# -- YAML 1.1 surprises -----------------------------------------------------------------------

def test_yaml_11_booleans_and_numbers_get_a_quote_hint(tmp_path, monkeypatch):
    found = problems(tmp_path, monkeypatch, """\
flow: 1
name: 1.5
inputs: {photos: {glob: "*.jpg"}}
steps:
  - id: save
    from: photos
    uses: image.save
    with: {to: "{stem}.png", format: no}
    parallel: {mode: off}
""")
    assert [(p.headline(), p.hint) for p in found] == [
        ("wf.yaml:2:7: error: name: expected a string, got 1.5",
         'quote it: name: "1.5" (YAML reads it as a number)'),
        ("wf.yaml:8:38: error: steps[0].with.format: expected a string, got no "
         "(YAML reads no as false)",
         'quote it: format: "no" (YAML reads yes, no, on and off as booleans)'),
        ("wf.yaml:9:22: error: steps[0].parallel.mode: must be one of map, async, serial, "
         "got off (YAML reads off as false)", ""),
    ]


def test_quote_hint_names_the_param_a_value_came_from(tmp_path, monkeypatch):
    found = problems(tmp_path, monkeypatch, HEAD + """\
  - {id: save, from: photos, uses: image.save, with: {to: "{stem}.jpg", format: "${fmt}"}}
params: {fmt: off}
""")
    assert [(p.headline(), p.hint) for p in found] == [
        ("wf.yaml:7:81: error: steps[0].with.format: expected a string, got off "
         "(YAML reads off as false)",
         "the value comes from param 'fmt': quote it: fmt: \"off\" "
         "(YAML reads yes, no, on and off as booleans)")]


# -- all at once, sorted; the line shown under each --------------------------------------------

def test_all_errors_at_once_sorted_and_rendered_with_the_line(tmp_path, monkeypatch):
    text = HEAD + """\
  - id: resize
    from: photoz
    uses: image.resize
    with: {widht: 10}
  - id: save
    uses: image.sav
"""
    found = problems(tmp_path, monkeypatch, text)
    assert [p.headline() for p in found] == [
        "wf.yaml:8:11: error: steps[0].from: unknown input or step 'photoz' "
        "(did you mean 'photos'?)",
        "wf.yaml:10:12: error: steps[0].with: unknown argument 'widht' (did you mean 'width'?)",
        "wf.yaml:12:11: error: steps[1].uses: unknown step 'image.sav' "
        "(did you mean 'image.save'?)",
    ]
    shown = found[1].render((tmp_path / "wf.yaml").read_text().splitlines())
    assert shown.splitlines()[1:] == ["        with: {widht: 10}", "               ^"]


def test_yaml_problems_and_schema_problems_together(tmp_path, monkeypatch):
    errs = errors(tmp_path, monkeypatch, HEAD + "  - {id: a, from: nums, uses: numeric.square}\n"
                  "name: again\nextra: !!python/object:os.system x\n")
    assert errs == [
        "wf.yaml:8:1: error: duplicate key 'name' (first at line 2)",
        "wf.yaml:9:1: error: unknown key 'extra' (did you mean 'executor'?)",
        "wf.yaml:9:8: error: tag !!python/object:os.system is not allowed: a workflow is plain "
        "data (mappings, lists, strings, numbers, booleans)",
    ]


def test_syntax_error_stops_before_the_schema(tmp_path, monkeypatch):
    assert errors(tmp_path, monkeypatch, HEAD + "  - {id: a, from: nums\n") == [
        "wf.yaml:8:1: error: YAML syntax error: did not find expected ',' or '}'"]


# -- params on the command line ---------------------------------------------------------------

def test_unknown_cli_param_has_no_position(tmp_path, monkeypatch):
    found = problems(tmp_path, monkeypatch, SPEC_EXAMPLE, params={"sise": "3"})
    assert [(p.headline(), p.hint) for p in found] == [
        ("wf.yaml: error: unknown param 'sise' given with -p (did you mean 'size'?)",
         "its params: size, out")]


def test_cli_value_of_the_wrong_type_is_reported_where_it_is_used(tmp_path, monkeypatch):
    assert errors(tmp_path, monkeypatch, SPEC_EXAMPLE, params={"size": "huge"}) == [
        "wf.yaml:21:13: error: steps[1].with.size: expected an integer or a list, got 'huge' "
        "(size=huge given with -p)"]


def test_allow_outside_accepts_escaping_outputs(tmp_path, monkeypatch):
    text = HEAD + "  - {id: s, from: photos, uses: image.save, with: {to: '/tmp/x/{stem}'}}\n"
    wf = load(tmp_path, monkeypatch, text, allow_outside=True)
    assert wf.steps[0].args.get("to") == "/tmp/x/{stem}"


# -- py: steps --------------------------------------------------------------------------------

def test_python_function_steps(tmp_path, monkeypatch):
    (tmp_path / "mysteps_a.py").write_text(textwrap.dedent("""\
        from steps import step

        def brighten(value, amount=1):
            return value + amount

        @step("my.total", kind="reduce", schema={"properties": {"start": {"type": "integer"}}})
        def total(values, start=0):
            return start + sum(values)
        """))
    wf = load(tmp_path, monkeypatch, HEAD + """\
  - {id: b, from: nums, uses: "py:mysteps_a:brighten", with: {amount: 2}}
  - {id: t, uses: "py:mysteps_a:total", with: {start: 1}}
""")
    b, t = wf.steps
    # Found by file in the workflow's folder: the ref says where, for the workers.
    assert (b.kind, b.ref, b.args.as_dict()) == ("map", f"{os.getcwd()}:mysteps_a:brighten",
                                                 {"amount": 2})
    assert (t.kind, t.ref) == ("reduce", f"{os.getcwd()}:mysteps_a:total")
    assert errors(tmp_path, monkeypatch, HEAD + """\
  - {id: t, from: nums, uses: "py:mysteps_a:total", with: {strat: 1}}
  - {id: m, uses: "py:mysteps_a:brigten"}
  - {id: n, uses: "py:no_such_module_here:f"}
  - {id: o, uses: "py:just-a-name"}
""") == [
        "wf.yaml:7:60: error: steps[0].with: unknown argument 'strat' (did you mean 'start'?)",
        "wf.yaml:8:19: error: steps[1].uses: 'mysteps_a' has no function 'brigten' "
        "(did you mean 'brighten'?)",
        "wf.yaml:9:19: error: steps[2].uses: no module named 'no_such_module_here'",
        "wf.yaml:10:19: error: steps[3].uses: 'py:just-a-name' is not of the form "
        "py:module.path:function",
    ]


def test_python_module_that_fails_to_import(tmp_path, monkeypatch):
    (tmp_path / "mysteps_broken.py").write_text("def f(:\n")
    errs = errors(tmp_path, monkeypatch, HEAD + "  - {id: b, from: nums, uses: "
                  "'py:mysteps_broken:f'}\n")
    assert len(errs) == 1
    assert errs[0].startswith("wf.yaml:7:31: error: steps[0].uses: 'mysteps_broken' cannot be "
                              "read: SyntaxError:")
    assert errs[0].endswith("mysteps_broken.py:1:7)")  # where in the module


# -- workflow files as steps ------------------------------------------------------------------

SHARED = """\
flow: 1
name: thumbs
params: {size: 128, out: thumbs}
defaults: {retries: 2}
inputs:
  images: {glob: "*.jpg"}
steps:
  - id: shrink
    from: images
    uses: image.thumbnail
    with: {size: "${size}"}
  - id: save
    uses: image.save
    with: {to: "${out}/{stem}.jpg"}
"""


def test_included_workflow_is_inlined(tmp_path, monkeypatch):
    write(tmp_path, SHARED, "shared/thumbs.yaml")
    wf = load(tmp_path, monkeypatch, HEAD + """\
  - {id: orient, from: photos, uses: image.auto_orient}
  - id: thumbs
    uses: ./shared/thumbs.yaml
    with: {size: 64, out: small}
    parallel: {workers: 2}
  - {id: bright, from: [thumbs, thumbs.shrink], uses: image.measure, with: {what: width}}
""")
    assert [(s.id, s.sources) for s in wf.steps] == [
        ("orient", ("photos",)), ("thumbs.shrink", ("orient",)),
        ("thumbs.save", ("thumbs.shrink",)), ("bright", ("thumbs.save", "thumbs.shrink"))]
    shrink, save = wf.steps[1], wf.steps[2]
    assert shrink.args.as_dict() == {"size": 64}
    assert save.args.as_dict() == {"to": "small/{stem}.jpg"}
    assert shrink.retries == 2 and shrink.parallel.workers == 2
    assert str(shrink.pos) == os.path.join("shared", "thumbs.yaml") + ":8:5"


def test_included_workflow_errors_point_into_each_file(tmp_path, monkeypatch):
    write(tmp_path, SHARED.replace('{size: "${size}"}', '{size: "${size}", sharp: 1}'),
          "shared/thumbs.yaml")
    write(tmp_path, "flow: 1\nname: loop\ninputs: {a: {values: [1]}}\nsteps:\n"
          "  - {id: again, from: a, uses: ../wf.yaml}\n", "shared/loop.yaml")
    errs = errors(tmp_path, monkeypatch, HEAD + """\
  - id: thumbs
    from: photos
    uses: ./shared/thumbs.yaml
    with: {sise: 64}
  - {id: gone, uses: ./shared/missing.yaml}
  - {id: loop, uses: shared/loop.yaml}
""")
    inc = os.path.join("shared", "thumbs.yaml")
    assert errs == [  # sorted by file, then place
        f"{os.path.join('shared', 'loop.yaml')}:5:32: error: steps[0].uses: a workflow cannot "
        "include itself (wf.yaml -> loop.yaml -> wf.yaml)",
        f"{inc}:11:29: error: steps[0].with: unknown argument 'sharp'",
        "wf.yaml:10:12: error: steps[0].with: unknown param 'sise' of ./shared/thumbs.yaml "
        "(did you mean 'size'?)",
        "wf.yaml:11:22: error: steps[1].uses: no workflow file './shared/missing.yaml'",
    ]


# -- the schema for editors, start-up cost, speed ---------------------------------------------

def test_workflow_schema_is_valid_json_schema_with_step_arguments():
    from jsonschema import Draft202012Validator

    schema = workflow_schema(REG)
    Draft202012Validator.check_schema(schema)
    json.dumps(schema)
    editor = Draft202012Validator(schema)

    def valid(step: dict, **top) -> bool:
        doc = {"flow": 1, "name": "x", "inputs": {"a": {"values": [1]}},
               "steps": [{"id": "r", "from": "a", **step}], **top}
        return editor.is_valid(doc)

    assert valid({"uses": "image.resize", "with": {"width": 1, "fit": "cover"}})
    assert not valid({"uses": "image.rezise", "with": {"width": 1}})  # the step names
    assert not valid({"uses": "image.resize", "with": {"widht": 1}})  # each step's arguments
    assert not valid({"uses": "image.resize", "with": {"width": 1, "fit": "covr"}})
    assert valid({"uses": "py:mine.steps:brighten", "with": {"anything": 1}})
    # A whole ${param} is valid wherever a value goes; anything else keeps its type.
    assert valid({"uses": "image.resize", "with": {"width": "${size}", "fit": "${fit}"},
                  "retries": "${n}", "parallel": {"workers": "${jobs}"}},
                 inputs={"a": {"range": {"stop": "${n}"}}}, params={"size": 8})
    assert valid({"uses": "image.thumbnail", "with": {"size": ["${w}", 64]}})
    assert not valid({"uses": "image.resize", "with": {"width": "${size}px"}})
    assert not valid({"uses": "image.resize", "with": {"width": "$${size}"}})
    assert not valid({"uses": "image.resize", "with": {"width": "${bad name}"}})


def test_a_valid_workflow_never_imports_jsonschema(tmp_path):
    (tmp_path / "wf.yaml").write_text(SPEC_EXAMPLE)
    code = textwrap.dedent(f"""\
        import sys
        from runner.compile.build import load_workflow
        load_workflow({str(tmp_path / "wf.yaml")!r})
        print("jsonschema" in sys.modules)
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.stdout.strip() == "False"


SAMPLES = [0, 1, -1, 2.5, 3.0, "abc", "", "auto", True, False, None, [1, 2], [1], ["a", "b"],
           [], {}, {"x": 1}]


def _instances(schema: dict) -> list:
    """Valid and invalid argument mappings for a step's schema: every property with
    every sample value (and its enum values), alone and together, plus an unknown key."""
    props = schema.get("properties", {})
    out: list = [{}, {"zzz": 1}, [], "text"]
    for name, sub in props.items():
        extra = list(sub.get("enum", [])) + ([sub["const"]] if "const" in sub else [])
        for value in SAMPLES + extra:
            out.append({name: value})
            out.append({**{n: 1 for n in props}, name: value})
    return out


def test_fast_check_never_calls_an_invalid_value_valid():
    from jsonschema import Draft202012Validator

    from runner.compile.fastcheck import verdict

    checked = 0
    for sd in REG.values():
        validator = Draft202012Validator(sd.schema)
        for inst in _instances(sd.schema):
            quick = verdict(inst, sd.schema)
            assert quick in (None, validator.is_valid(inst)), (sd.name, inst)
            checked += quick is not None
    import yaml

    doc = yaml.safe_load(SPEC_EXAMPLE)
    variants = [doc, {**doc, "flow": 2}, {**doc, "flow": 1.0}, {**doc, "flow": True},
                {**doc, "steps": []}, {**doc, "extra": 1}, {**doc, "name": "Bad"},
                {**doc, "inputs": {"a": {"glob": "x", "range": 3}}},
                {**doc, "inputs": {"a": {"range": {"stop": 3, "step": 0}}}},
                {**doc, "defaults": {"parallel": {"workers": "auto", "chunksize": 0}}},
                {**doc, "params": {"bad name": 1}}]
    validator = Draft202012Validator(base_schema())
    for inst in variants:
        assert verdict(inst, base_schema()) == validator.is_valid(inst), inst
    assert checked > 100  # the quick answer is given, not ducked


def test_importing_the_loader_is_light():
    code = ("import sys, runner.compile.build; "
            "print(sorted(m for m in ('PIL', 'jsonschema', 'rich', 'yaml') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.stdout.strip() == "[]"


@pytest.mark.timing
def test_a_typical_workflow_loads_in_a_few_ms(tmp_path, monkeypatch):
    text = SPEC_EXAMPLE + "  - {id: sq, from: nums, uses: numeric.square}\n" \
        "  - {id: total, uses: numeric.sum}\n" \
        "  - id: again\n    uses: numeric.square\n    parallel: {mode: serial}\n"
    text = text.replace("inputs:\n", "inputs:\n  nums: {range: {start: 0, stop: 100}}\n")
    load(tmp_path, monkeypatch, text)  # imports and schema compilation happen once
    runs = 20
    start = time.perf_counter()
    for _ in range(runs):
        load_workflow("wf.yaml")
    per_load = (time.perf_counter() - start) / runs
    print(f"loading a {len(text.splitlines())}-line workflow: {per_load * 1000:.2f} ms")
    assert per_load < limit(0.02)  # measured about 1.3 ms on the 2-core CI machine
