"""A step runs at most ``1 + retries`` times per item, on every path of the chain runner.

Workers map whole chunks through C-level ``map`` when they can; an item that fails or
is dropped (a step returning None) inside such a chunk must not make the worker run
the chunk again item by item: every item is seen once by each step (the failing one
``1 + retries`` times). The steps here append each value they are given to a file,
so the tests count the calls a user's ``py:`` step really received, through the real
``flow`` command.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest

from tests.conftest import run_flow

COUNTING = '''\
def note(value, log, drop=(), fail=()):
    """Append the value to ``log``; drop (None) or fail on the values listed."""
    with open(log, "a") as fh:
        fh.write(f"{value}\\n")
    if value in drop:
        return None
    if value in fail:
        raise ValueError(f"bad value {value}")
    return value


def relay(value, log, drop=(), fail=()):
    """As ``note``: a second function, so a chain's steps differ."""
    return note(value, log, drop, fail)
'''


def calls(path: Path) -> collections.Counter:
    return collections.Counter(int(float(v)) for v in path.read_text().split())


def run(tmp_path: Path, text: str):
    (tmp_path / "counting.py").write_text(COUNTING)
    (tmp_path / "wf.yaml").write_text(text)
    res = run_flow("run", "wf.yaml", "--no-live", "--report", "report.json", cwd=tmp_path,
                   timeout=120)
    return res, json.loads((tmp_path / "report.json").read_text())


INPUTS = {
    "range": "{range: {start: 0, stop: 2000}}",  # sub-ranges, 125 numbers a chunk
    "values": f"{{values: {list(range(2000))}}}",  # items, 64 a chunk
}


def one_step(source: str, args: str, retries: int = 0) -> str:
    """2000 numbers through ``py:counting:note`` with ``args``, kept in kept.json."""
    return f"""\
flow: 1
name: counted
inputs:
  xs: {INPUTS[source]}
steps:
  - id: note
    from: xs
    uses: py:counting:note
    with: {{log: calls.txt, {args}}}
    retries: {retries}
  - {{id: keep, uses: io.write, with: {{to: kept.json, as_list: true}}}}
"""


@pytest.mark.parametrize("source", sorted(INPUTS))
def test_a_dropped_item_does_not_make_the_chunk_run_again(tmp_path, source):
    res, report = run(tmp_path, one_step(source, "drop: [700]"))
    assert res.returncode == 0, res.stdout + res.stderr
    seen = calls(tmp_path / "calls.txt")
    assert sum(seen.values()) == 2000, f"{sum(seen.values())} calls for 2000 items"
    assert set(seen.values()) == {1}
    assert json.loads((tmp_path / "kept.json").read_text()) == \
        [v for v in range(2000) if v != 700]


@pytest.mark.parametrize("retries", [0, 2])
@pytest.mark.parametrize("source", sorted(INPUTS))
def test_a_failing_item_runs_once_plus_its_retries_and_the_others_once(tmp_path, source,
                                                                     retries):
    res, report = run(tmp_path, one_step(source, "fail: [3, 1500], drop: [1499]", retries))
    assert res.returncode == 1, res.stdout + res.stderr
    seen = calls(tmp_path / "calls.txt")
    assert (seen[3], seen[1500]) == (1 + retries, 1 + retries)
    assert len(seen) == 2000 and {n for v, n in seen.items() if v not in (3, 1500)} == {1}
    assert sorted((f["item"], f["step"], f["attempts"]) for f in report["failures"]) == \
        [("item 1500 (1500)", "note", 1 + retries), ("item 3 (3)", "note", 1 + retries)]
    assert json.loads((tmp_path / "kept.json").read_text()) == \
        [v for v in range(2000) if v not in (3, 1499, 1500)]


@pytest.mark.parametrize("retries", [0, 1])
@pytest.mark.parametrize("second_fn", ["note", "relay"])  # the same function twice, or not
def test_in_a_chain_the_steps_before_the_failing_one_run_once_per_item(tmp_path, second_fn,
                                                                       retries):
    res, report = run(tmp_path, f"""\
flow: 1
name: chain
defaults: {{retries: {retries}}}
inputs:
  xs: {{range: {{start: 0, stop: 1000}}}}
steps:
  - id: first
    from: xs
    uses: py:counting:note
    with: {{log: first.txt, drop: [10]}}
  - id: second
    uses: py:counting:{second_fn}
    with: {{log: second.txt, fail: [500]}}
  - {{id: total, uses: numeric.sum}}
""")
    assert res.returncode == 1, res.stdout + res.stderr
    first, second = calls(tmp_path / "first.txt"), calls(tmp_path / "second.txt")
    # An attempt runs the item's chain from its start: each step 1 + retries times at most.
    assert sum(first.values()) == 1000 + retries and first[500] == 1 + retries
    assert sum(second.values()) == 999 + retries and second[500] == 1 + retries
    assert set(first.values()) | set(second.values()) <= {1, 1 + retries} and 10 not in second
    assert [(f["item"], f["step"], f["attempts"]) for f in report["failures"]] == \
        [("item 500 (500)", "second", 1 + retries)]
    assert sum(range(1000)) - 10 - 500 == report["results"]["total"]
