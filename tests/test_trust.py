"""What a workflow file may run, through the real ``flow`` command.

A workflow someone sends you is checked with ``flow validate``, ``flow graph`` or
``flow run --dry-run`` without running any of its code; ``py:`` reaches only modules
in the workflow's folder and installed step packages, never the standard library or
another installed module; a real run imports the workflow's own module by file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, run_flow

# A module whose top level leaves a mark: the mark says the module was run.
MODULE = """\
import pathlib

pathlib.Path(__file__).with_name("MARKER").write_text("the module ran")

from steps import step

START = {"type": "integer", "minimum": 0}


def triple(value, add: int = 0):
    return value * 3 + add


@step("my.total", kind="reduce", schema={"properties": {"start": START}})
def total(values, start=0):
    return start + sum(values)
"""

WF = """\
flow: 1
name: custom
inputs:
  xs: {values: [1, 2, 3]}
steps:
  - id: t
    from: xs
    uses: py:mysteps:triple
    with: {add: 1}
  - id: sum
    uses: py:mysteps:total
    with: {start: 100}
  - id: out
    uses: io.write
    with: {to: total.json}
"""


def test_validate_graph_and_dry_run_never_run_the_module_a_run_does(tmp_path):
    (tmp_path / "mysteps.py").write_text(MODULE)
    (tmp_path / "wf.yaml").write_text(WF)
    for args in (["validate", "wf.yaml"], ["graph", "wf.yaml"],
                 ["graph", "wf.yaml", "--format", "mermaid"], ["run", "wf.yaml", "--dry-run"]):
        res = run_flow(*args, cwd=tmp_path)
        assert res.returncode == 0, (args, res.stdout + res.stderr)
        assert not (tmp_path / "MARKER").exists(), f"flow {' '.join(args)} ran the module"
    res = run_flow("graph", "wf.yaml", cwd=tmp_path)
    assert "py:mysteps:total" in res.stdout and "[reduce" in res.stdout  # kind read from source

    res = run_flow("run", "wf.yaml", "--no-live", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads((tmp_path / "total.json").read_text()) == 100 + 4 + 7 + 10
    assert (tmp_path / "MARKER").exists()  # a run imports it, in the workers


def test_arguments_of_a_py_step_are_checked_from_its_source(tmp_path):
    (tmp_path / "mysteps.py").write_text(MODULE)
    (tmp_path / "wf.yaml").write_text(WF.replace("{add: 1}", "{ad: 1}")
                                      .replace("{start: 100}", "{start: -1}"))
    res = run_flow("validate", "wf.yaml", cwd=tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "wf.yaml:9:12: error: steps[0].with: unknown argument 'ad' (did you mean 'add'?)" \
        in res.stderr
    assert "wf.yaml:12:19: error: steps[1].with.start: must be at least 0, got -1" \
        in res.stderr, res.stderr
    (tmp_path / "wf.yaml").write_text(WF.replace("{add: 1}", "{add: one}"))
    res = run_flow("validate", "wf.yaml", cwd=tmp_path)  # add: int
    assert res.returncode == 2 and "steps[0].with.add: expected an integer, got 'one'" \
        in res.stderr, res.stderr
    assert not (tmp_path / "MARKER").exists() and "Traceback" not in res.stderr


REFUSED = """\
flow: 1
name: hostile
inputs:
  cmds: {values: ["touch HACKED"]}
steps:
  - id: a
    from: cmds
    uses: py:os:system
  - id: b
    from: cmds
    uses: py:shutil:rmtree
  - id: c
    from: cmds
    uses: py:yaml:safe_load
  - id: d
    from: cmds
    uses: py:no_such_module_anywhere:f
"""


def test_py_refuses_the_standard_library_and_other_installed_modules(tmp_path):
    (tmp_path / "wf.yaml").write_text(REFUSED)
    for args in (["validate", "wf.yaml"], ["run", "wf.yaml", "--no-live"]):
        res = run_flow(*args, cwd=tmp_path)
        assert res.returncode == 2, res.stdout + res.stderr
        lines = [ln for ln in res.stderr.splitlines() if ": error: " in ln]
        assert lines == [
            "wf.yaml:8:11: error: steps[0].uses: 'os' is in Python's standard library: py: "
            "reaches only modules in the workflow's folder and installed step packages",
            "wf.yaml:11:11: error: steps[1].uses: 'shutil' is in Python's standard library: "
            "py: reaches only modules in the workflow's folder and installed step packages",
            "wf.yaml:14:11: error: steps[2].uses: 'yaml' is installed but is not a step "
            "package: py: reaches only modules in the workflow's folder and installed step "
            "packages",
            "wf.yaml:17:11: error: steps[3].uses: no module named 'no_such_module_anywhere'",
        ], res.stderr
        assert "Traceback" not in res.stderr
    assert not (tmp_path / "HACKED").exists()


def test_a_steps_py_beside_the_workflow_is_harmless(tmp_path):
    # "steps" is also flow's own package: neither may hide the other.
    (tmp_path / "steps.py").write_text("def double(value):\n    return value * 2\n")
    (tmp_path / "wf.yaml").write_text("""\
flow: 1
name: beside
inputs:
  xs: {range: {stop: 1000}}
steps:
  - id: d
    from: xs
    uses: py:steps:double
    parallel: {workers: 2}
  - id: sq
    uses: numeric.square
  - id: total
    uses: numeric.sum
  - id: out
    uses: io.write
    with: {to: total.json}
""")
    for args in (["validate", "wf.yaml"], ["graph", "wf.yaml"]):
        res = run_flow(*args, cwd=tmp_path)
        assert res.returncode == 0, res.stdout + res.stderr
    res = run_flow("run", "wf.yaml", "--no-live", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads((tmp_path / "total.json").read_text()) == sum(
        (2 * i) ** 2 for i in range(1000))


def halving(uses: str, args: str = "{}") -> str:
    """A workflow: the values 2 and 4 through the step ``uses``, summed into total.json."""
    return f"""\
flow: 1
name: halving
inputs:
  xs: {{values: [2, 4]}}
steps:
  - {{id: h, from: xs, uses: "{uses}", with: {args}}}
  - {{id: total, uses: numeric.sum}}
  - {{id: out, uses: io.write, with: {{to: total.json}}}}
"""


def test_a_package_in_the_workflow_folder_may_re_export_its_steps(tmp_path):
    pkg = tmp_path / "team"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .impl import halve as half\n")
    (pkg / "impl.py").write_text("from .util import div\n\n"
                                 "def halve(value, by: float = 2):\n    return div(value, by)\n")
    (pkg / "util.py").write_text("def div(a, b):\n    return a / b\n")
    (tmp_path / "wf.yaml").write_text(halving("py:team:half", "{by: 4}"))
    res = run_flow("run", "wf.yaml", "--no-live", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads((tmp_path / "total.json").read_text()) == 1.5
    (tmp_path / "wf.yaml").write_text((tmp_path / "wf.yaml").read_text()
                                      .replace("{by: 4}", "{bye: 4}"))
    res = run_flow("validate", "wf.yaml", cwd=tmp_path)
    assert res.returncode == 2 and "unknown argument 'bye' (did you mean 'by'?)" in res.stderr


@pytest.mark.parametrize("source, said", [
    ('from steps import step\nKIND = "re" + "duce"\n\n@step("x", kind=KIND)\n'
     "def f(values):\n    return sum(values)\n", "its kind is not a literal"),
    ("import functools\nf = functools.partial(print)\n", "is made by an expression"),
])
def test_what_cannot_be_read_without_running_is_said(tmp_path, source, said):
    (tmp_path / "odd.py").write_text('open("MARKER", "w").close()\n' + source)
    (tmp_path / "wf.yaml").write_text("flow: 1\nname: odd\ninputs:\n  xs: {values: [1]}\n"
                                      "steps:\n  - {id: f, from: xs, uses: 'py:odd:f'}\n")
    res = run_flow("validate", "wf.yaml", cwd=tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "wf.yaml:6:29: error: steps[0].uses: " in res.stderr and said in res.stderr
    assert "odd.py:" in res.stderr  # where in the module
    assert not (tmp_path / "MARKER").exists()


def _fake_install(site: Path, name: str, files: dict[str, str], entry: str | None) -> None:
    """A distribution as pip leaves it: its files and a .dist-info folder."""
    for rel, text in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "top_level.txt").write_text(name + "\n")
    if entry:
        (info / "entry_points.txt").write_text(f"[flow.steps]\n{name} = {entry}\n")


def test_installed_step_packages_are_reachable_other_packages_are_not(tmp_path):
    site = tmp_path / "site"
    _fake_install(site, "teamsteps", {"teamsteps/__init__.py": "",
                                      "teamsteps/extra.py": "def halve(value):\n"
                                                            "    return value / 2\n"},
                  entry="teamsteps.extra")
    _fake_install(site, "otherpkg", {"otherpkg/__init__.py": "def f(value):\n    return 0\n"},
                  entry=None)
    work = tmp_path / "work"
    work.mkdir()
    (work / "wf.yaml").write_text(halving("py:teamsteps.extra:halve"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(site)])}

    def flow(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "runner", *args], cwd=work, env=env,
                              capture_output=True, text=True, timeout=120)

    res = flow("run", "wf.yaml", "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads((work / "total.json").read_text()) == 3
    (work / "wf.yaml").write_text((work / "wf.yaml").read_text()
                                  .replace("py:teamsteps.extra:halve", "py:otherpkg:f"))
    res = flow("validate", "wf.yaml")
    assert res.returncode == 2
    assert "'otherpkg' is installed but is not a step package" in res.stderr, res.stderr
