"""Range inputs: the one span arithmetic, and a float range through the real `flow` command."""

from __future__ import annotations

import json

import pytest

from runner.execute.span import Span
from tests.conftest import run_flow

TENTHS_WF = """\
flow: 1
name: tenths
inputs:
  xs: {range: {start: 0, stop: 10, step: 0.1}}
steps:
  - id: same
    from: xs
    uses: numeric.abs
  - id: total
    uses: numeric.sum
"""


def test_a_float_range_gives_each_number_once_when_shipped_in_sub_ranges(tmp_path):
    # Sub-ranges re-derived from float stops gained items (0.1 * 12 = 1.2000000000000002).
    (tmp_path / "wf.yaml").write_text(TENTHS_WF)
    for jobs in ("1", "2"):  # --force: the second run would find it all up to date
        res = run_flow("run", "wf.yaml", "-j", jobs, "--no-live", "--report", "report.json",
                       "--force", cwd=tmp_path, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr
        report = json.loads((tmp_path / "report.json").read_text())
        assert [s["done"] for s in report["stages"]] == [100, 1]
        total = float(res.stdout.split("total:")[-1].split()[0])
        assert abs(total - 495.0) < 1e-9, res.stdout


def test_pieces_cut_by_index_hold_the_whole_ranges_numbers():
    whole = Span.of(0, 10, 0.1)
    assert len(whole) == 100
    pieces = [whole.sub(i, i + 7) for i in range(0, 100, 7)]
    assert [len(p) for p in pieces] == [7] * 14 + [2]
    joined = [v for p in pieces for v in p]
    assert joined == list(whole) == [i * 0.1 for i in range(100)]
    assert [p.at(0) for p in pieces] == [i * 0.1 for i in range(0, 100, 7)]
    # a piece of a piece is still cut from the whole
    assert list(pieces[1].sub(2, 4)) == [9 * 0.1, 10 * 0.1]


def test_whole_number_ranges_stay_ints_and_count_as_range_does():
    for args in [(0, 10, 3), (10, 0, -3), (5, 5, 1), (0, 20_000_000, 1), (2.0, 8.0, 2.0)]:
        span = Span.of(*args)
        expected = range(*map(int, args))
        assert len(span) == len(expected)
        assert list(span.sub(1, 4)) == list(expected[1:4])
        assert all(type(v) is int for v in span.sub(0, 3))
    assert len(Span.of(0, 0.3, 0.1)) == 3  # rounded up, despite 0.3 / 0.1 < 3
    assert list(Span.of(1, 0, -0.25)) == [1, 0.75, 0.5, 0.25]
    assert Span.of(0, 10, 1).sub(8, 50).count == 2  # clipped to the span
    with pytest.raises(IndexError):
        Span.of(0, 3, 1).at(3)
