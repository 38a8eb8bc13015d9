"""``${param}`` and ``uses: ./file.yaml`` bombs: refused at once, naming where.

Each bomb is a small file that grows ten-fold per level; ``flow validate`` must say
which param or which ``uses:`` went too far, quickly and in little memory (the run
is capped at 1 GB of address space: a bomb that expanded would die of it).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.hostile_kit import write
from tests.test_e2e_faults import flow_env
from tests.timing import limit

TAIL = """\
inputs:
  xs: {values: [1]}
steps:
  - id: s
    from: xs
    uses: numeric.scale
    with: {factor: 1, offset: 0}
"""


def string_bomb() -> str:
    lines = ["flow: 1", "name: bomb", "params:", '  p0: "xxxxxxxxxx"']
    lines += [f'  p{i}: "' + f"${{p{i - 1}}}" * 10 + '"' for i in range(1, 11)]
    return "\n".join(lines) + "\n" + TAIL


def list_bomb() -> str:
    lines = ["flow: 1", "name: bomb", "params:", "  p0: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"]
    lines += [f"  p{i}: [" + ", ".join([f'"${{p{i - 1}}}"'] * 10) + "]" for i in range(1, 11)]
    return "\n".join(lines) + "\n" + TAIL


def include_bomb(folder: Path) -> Path:
    """top.yaml uses inc1.yaml ten times, which uses inc2.yaml ten times ... six deep."""
    for level in range(1, 7):
        body = "\n".join(f"  - id: s{k}\n    uses: ./inc{level + 1}.yaml" for k in range(10)) \
            if level < 6 else "  - id: last\n    uses: numeric.square"
        write(folder, f"inc{level}.yaml", "flow: 1\nname: inc\ninputs:\n  xs: {values: [1]}\n"
              "steps:\n  - id: first\n    from: xs\n    uses: numeric.abs\n" + body + "\n")
    uses = "\n".join(f"  - id: s{k}\n    from: xs\n    uses: ./inc1.yaml" for k in range(10))
    return write(folder, "top.yaml", "flow: 1\nname: top\ninputs:\n  xs: {values: [1]}\n"
                 f"steps:\n{uses}\n")


def cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def validate(folder: Path, name: str) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "runner", "validate", name], cwd=folder,
                         env=flow_env(), capture_output=True, text=True, timeout=limit(10),
                         preexec_fn=cap_memory)
    return res, time.monotonic() - t0


@pytest.mark.timing
@pytest.mark.parametrize("kind, first_error", [
    ("string", "bomb.yaml:9:7: error: params.p5: param 'p5' expands to more than 1,000,000 "
               "characters from params; refused"),
    ("list", "bomb.yaml:8:71: error: params.p4[7]: param 'p4' expands to more than 100,000 "
             "list items copied from params; refused"),
])
def test_params_that_repeat_params_are_refused_naming_the_param(tmp_path, kind, first_error):
    write(tmp_path, "bomb.yaml", string_bomb() if kind == "string" else list_bomb())
    assert len((tmp_path / "bomb.yaml").read_bytes()) < 1200
    res, took = validate(tmp_path, "bomb.yaml")
    print(f"\n[timing] {kind} ${{param}} bomb refused in {took:.2f} s (flow's start included)")
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.splitlines()
    assert lines[0] == first_error
    assert "ten-fold per level" in res.stderr
    assert sum("error:" in line for line in lines) == 1
    assert "Traceback" not in res.stderr
    assert took < limit(1.5)


@pytest.mark.timing
def test_files_that_include_files_many_times_over_are_refused_naming_the_uses(tmp_path):
    include_bomb(tmp_path)
    res, took = validate(tmp_path, "top.yaml")
    print(f"\n[timing] include bomb refused in {took:.2f} s (flow's start included)")
    assert res.returncode == 2, res.stdout + res.stderr
    errors = [line for line in res.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, res.stderr
    assert errors[0].endswith(".uses: './inc6.yaml' would make this workflow read more than "
                              "200 workflow files to inline; refused"), errors
    assert errors[0].startswith("inc5.yaml:")
    assert took < limit(1.5)


def test_a_long_list_param_used_once_and_a_short_one_used_often_still_run(tmp_path):
    numbers = ", ".join(str(i) for i in range(50_000))
    uses = ", ".join(['"${few}"'] * 50)
    write(tmp_path, "wf.yaml", f"""\
flow: 1
name: fine
params:
  many: [{numbers}]
  few: [1, 2, 3]
  lists: [{uses}]
inputs:
  xs: {{values: "${{many}}"}}
steps:
  - id: total
    from: xs
    uses: numeric.sum
""")
    res = subprocess.run([sys.executable, "-m", "runner", "run", "wf.yaml", "--json"],
                         cwd=tmp_path, env=flow_env(), capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"{sum(range(50_000))}" in res.stderr
