"""A reduce fed straight by inputs (no map step between): its input is folded in chunks
by the workers, with the results, failures and re-runs it had when flow's own process
gathered every item. Through the real ``flow`` command on real files; the memory it
saves is measured in ``tests/test_csv_stream.py``."""

from __future__ import annotations

import json
import random
from statistics import stdev

STRAIGHT = """\
flow: 1
name: straight
inputs:
  rows: {csv: {path: data.csv, column: {column}}}
steps:
  - {id: total, from: rows, uses: numeric.sum}
  - {id: out, uses: io.write, with: {to: total.json}}
"""


def test_a_changed_csv_runs_its_reduce_again(tmp_path, flow):
    (tmp_path / "data.csv").write_text("a,b\n1,10\n2,20\n")
    (tmp_path / "wf.yaml").write_text(STRAIGHT.replace("{column}", "a"))
    assert flow("run", "wf.yaml", "--no-live").returncode == 0
    assert json.loads((tmp_path / "total.json").read_text()) == 3
    again = flow("run", "wf.yaml", "--no-live")
    assert "up to date" in again.stdout, again.stdout
    with open(tmp_path / "data.csv", "a") as fh:
        fh.write("4,40\n")  # a row more
    res = flow("run", "wf.yaml", "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads((tmp_path / "total.json").read_text()) == 7
    (tmp_path / "wf.yaml").write_text(STRAIGHT.replace("{column}", "b"))  # another column
    res = flow("run", "wf.yaml", "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads((tmp_path / "total.json").read_text()) == 70


def test_a_value_a_folded_reduce_cannot_take_fails_it_with_the_reduce_s_reason(tmp_path, flow):
    (tmp_path / "wf.yaml").write_text("""\
flow: 1
name: strings
inputs:
  xs: {values: [1, "a", 2]}
steps:
  - {id: straight, from: xs, uses: numeric.sum}
  - {id: pass, from: xs, uses: util.sleep, with: {seconds: 0}}
  - {id: after, uses: numeric.sum}
""")
    res = flow("run", "wf.yaml", "--no-live")
    assert res.returncode == 1, res.stdout + res.stderr
    why = "TypeError: unsupported operand type(s) for +: 'int' and 'str'"
    assert f"straight (all 3 items) at straight: {why}" in res.stdout, res.stdout
    assert f"item 1 ('a') at after: {why}" in res.stdout, res.stdout
    assert "internal error" not in res.stdout + res.stderr


def test_results_are_exact_and_the_same_with_any_number_of_workers(tmp_path, flow):
    rng = random.Random(7)
    (tmp_path / "data.csv").write_text("x\n" + "".join(
        f"{rng.uniform(-1e3, 1e3)!r}\n" for _ in range(30_000)))
    (tmp_path / "wf.yaml").write_text("""\
flow: 1
name: exact
inputs:
  n: {range: {start: 0, stop: 100001, step: 1}}
  v: {values: [3, 1.5, 2, 7]}
  f: {csv: {path: data.csv, column: x}}
steps:
  - {id: nsum, from: n, uses: numeric.sum}
  - {id: nstats, from: n, uses: numeric.stats}
  - {id: nv, from: [v, n], uses: numeric.count}
  - {id: vmean, from: v, uses: numeric.mean}
  - {id: fstats, from: f, uses: numeric.stats}
""")
    outs = []
    for jobs in ("1", "2"):
        res = flow("run", "wf.yaml", "--no-live", "--force", "-j", jobs)
        assert res.returncode == 0, res.stdout + res.stderr
        outs.append(res.stdout.split("results:")[1])
    assert outs[0] == outs[1]
    shown = dict(line.strip().split(": ", 1) for line in outs[0].strip().splitlines())
    assert json.loads(shown["nsum"]) == sum(range(100001))
    assert json.loads(shown["nstats"]) == {"count": 100001, "min": 0, "max": 100000,
                                           "mean": 50000.0, "stdev": stdev(range(100001)),
                                           "median": 50000}
    assert json.loads(shown["nv"]) == 100005
    assert json.loads(shown["vmean"]) == 3.375
    assert json.loads(shown["fstats"])["count"] == 30_000
