"""Each step keeps its own settings: ``timeout``, ``on_error`` and ``retries``.

Steps that run one after the other are fused into one stage (one task per chunk,
pixels kept in the worker), but only when they ask the same of flow: a step whose
timeout, on_error or retries differ from the step before it (a reduce included)
runs under its own. And a timeout is per item, measured from the item's start:
a chunk of items that each stay under the limit never times out, however long
the chunk takes. Everything here goes through the real ``flow`` command.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests import faults
from tests.conftest import run_flow
from tests.timing import limit


def run(tmp_path: Path, text: str, *args: str, timeout: float = 60):
    (tmp_path / "wf.yaml").write_text(text)
    faults.beside(tmp_path)  # py: reaches only the workflow's folder
    t0 = time.monotonic()
    res = run_flow("run", "wf.yaml", "--no-live", "--report", "report.json", *args,
                   cwd=tmp_path, timeout=timeout)
    took = time.monotonic() - t0
    report = json.loads((tmp_path / "report.json").read_text())
    return res, report, took


# A step with a timeout after a step without one: after a reduce, and after a map step.
TIMED = {
    "after a reduce": "  - {id: total, from: xs, uses: numeric.sum}\n",
    "after a map step": "  - {id: square, from: xs, uses: numeric.square}\n",
}


@pytest.mark.timing
@pytest.mark.parametrize("before", sorted(TIMED))
def test_a_steps_own_timeout_holds_after_a_step_without_one(tmp_path, before):
    res, report, took = run(tmp_path, f"""\
flow: 1
name: timed
inputs:
  xs: {{values: [1, 2, 3]}}
steps:
{TIMED[before]}  - id: nap
    uses: util.sleep
    with: {{seconds: 30}}
    timeout: 1
""")
    assert res.returncode == 1, res.stdout + res.stderr
    assert took < limit(12), f"the 1 s timeout was not enforced: {took:.1f} s"
    assert report["failures"], report
    assert {f["step"] for f in report["failures"]} == {"nap"}
    assert all("timed out after 1 s" in f["reason"] for f in report["failures"])


@pytest.mark.parametrize("before", sorted(TIMED))
def test_a_steps_own_on_error_stop_holds_after_a_step_that_continues(tmp_path, before):
    at = 6 if before == "after a reduce" else 4  # the sum of 1, 2, 3; the square of 2
    res, report, _ = run(tmp_path, f"""\
flow: 1
name: stopping
inputs:
  xs: {{values: [1, 2, 3]}}
steps:
{TIMED[before]}  - id: check
    uses: py:tests.faults:fail_at
    with: {{at: {at}}}
    on_error: stop
""")
    assert res.returncode == 1, res.stdout + res.stderr
    assert report["state"] == "stopped", report
    assert report["stopped_by"]["step"] == "check"
    assert "stopped at a failed item (on_error: stop)" in res.stdout


def test_a_step_without_retries_is_not_retried_for_the_retries_of_the_step_before(tmp_path):
    # `same` may retry; `die` may not: its worker, killed once, fails its item for good.
    res, report, _ = run(tmp_path, """\
flow: 1
name: retries
inputs:
  xs: {values: [1, 2, 3, 4]}
steps:
  - {id: same, from: xs, uses: numeric.abs, retries: 2}
  - id: die
    uses: py:tests.faults:kill_once
    with: {flag: killed.flag, at: 2}
    retries: 0
  - {id: keep, uses: io.write, with: {to: kept.json, as_list: true}}
""")
    assert res.returncode == 1, res.stdout + res.stderr
    assert (tmp_path / "killed.flag").exists()
    assert [(f["item"], f["step"], f["attempts"]) for f in report["failures"]] == \
        [("item 1 (2)", "die", 1)]
    assert json.loads((tmp_path / "kept.json").read_text()) == [1, 3, 4]


@pytest.mark.timing
@pytest.mark.parametrize("mode", ["map", "serial"])
def test_a_timeout_counts_from_each_items_start_not_from_its_chunks(tmp_path, mode):
    # One chunk of four items of 0.6 s each: 2.4 s in all, each item well under 1.5 s.
    res, report, took = run(tmp_path, f"""\
flow: 1
name: chunked
inputs:
  xs: {{values: [1, 2, 3, 4]}}
steps:
  - id: nap
    from: xs
    uses: util.sleep
    with: {{seconds: 0.6}}
    timeout: 1.5
    parallel: {{mode: {mode}, workers: 1, chunksize: 4}}
  - {{id: keep, uses: io.write, with: {{to: kept.json, as_list: true}}}}
""")
    assert res.returncode == 0, res.stdout + res.stderr
    assert report["failures"] == []
    assert json.loads((tmp_path / "kept.json").read_text()) == [1, 2, 3, 4]
    assert took >= 2.4  # the four items did run one after the other, in one chunk
