"""A bug in flow is told apart from the user's mistakes and from failed items: exit 3.

The bug is real: a ``sitecustomize.py`` on the path of a real ``flow`` process breaks
one of flow's own functions as the interpreter starts (Python imports it before
anything else), so flow's code raises as a bug would, in a real process with a real
exit code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

# plan() handed nothing instead of the workflow: an AttributeError deep in runner/plan.py.
BROKEN_PLAN = """\
import runner.plan as _plan

_real = _plan.plan


def _bugged(workflow, *args, **kwargs):
    return _real(None, *args, **kwargs)


_plan.plan = _bugged
"""

WF = """\
flow: 1
name: squares
inputs:
  xs: {values: [1, 2, 3]}
steps:
  - id: sq
    from: xs
    uses: numeric.square
"""


def run_bugged_flow(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """``flow ARGS`` in ``tmp_path`` with plan() broken by ``sitecustomize.py``."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BROKEN_PLAN)
    (tmp_path / "wf.yaml").write_text(WF)
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{REPO}", "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "runner", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args", [("run", "wf.yaml", "--no-live"), ("graph", "wf.yaml")])
def test_an_internal_error_exits_3_with_a_short_message_and_no_traceback(tmp_path, args):
    res = run_bugged_flow(tmp_path, *args)
    assert res.returncode == 3, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 2, res.stderr
    assert lines[0].startswith("internal error in flow: AttributeError: 'NoneType' object has "
                               "no attribute "), lines
    assert "runner/plan.py:" in lines[0]  # where, for the bug report
    assert lines[1] == ("this is a bug in flow, not in your workflow: please report it to "
                        "flow's developers with the output of the same command run with "
                        "--verbose")
    assert "Traceback" not in res.stdout + res.stderr


@pytest.mark.parametrize("args", [("run", "wf.yaml", "--no-live"), ("graph", "wf.yaml")])
def test_verbose_shows_the_internal_errors_traceback(tmp_path, args):
    res = run_bugged_flow(tmp_path, *args, "--verbose")
    assert res.returncode == 3, res.stdout + res.stderr
    assert "Traceback (most recent call last):" in res.stderr
    assert 'runner/plan.py", line ' in res.stderr
    assert res.stderr.strip().splitlines()[-2].startswith("internal error in flow: ")


def test_the_sitecustomize_is_what_breaks_it(tmp_path):
    """Without the broken function the same command succeeds: the exit 3 is the bug's."""
    (tmp_path / "wf.yaml").write_text(WF)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, "-m", "runner", "graph", "wf.yaml"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("command", [["validate", "wf.yaml"], ["graph", "wf.yaml"], ["steps"],
                                     ["schema"], ["run", "wf.yaml"]])
def test_every_command_takes_verbose(tmp_path, command):
    (tmp_path / "wf.yaml").write_text(WF)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, "-m", "runner", *command, "--verbose"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
