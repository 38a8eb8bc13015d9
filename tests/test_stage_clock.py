"""One clock per stage: from its first task sent to its last result back, in every view.

The plain lines, the summary's table, ``--json`` and ``--report`` all show the same
time for a stage; a stage that finishes early keeps its own time however long the run
goes on, and a stage whose items were all up to date (nothing sent) took no time.
Through the real ``flow`` command.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from runner.report.board import fmt_seconds
from tests.conftest import make_photos, run_flow

# A quick stage beside a slow one: the run lasts 2 s or more, the quick stage 0.3 s.
QUICK_AND_SLOW = """\
flow: 1
name: clocks
inputs:
  one: {values: [1]}
  three: {values: [1, 2, 3]}
  photos: {glob: "photos/*.jpg"}
steps:
  - {id: quick, from: one, uses: util.sleep, with: {seconds: 0.3}}
  - {id: slow, from: three, uses: util.sleep, with: {seconds: 1}, parallel: {workers: 1}}
  - {id: small, from: photos, uses: image.thumbnail, with: {size: 16}}
  - {id: save, uses: image.save, with: {to: "out/{stem}.png"}}
"""


def run(tmp_path: Path, *args: str):
    res = run_flow("run", "wf.yaml", "--report", "report.json", *args, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    return res, {s["label"]: s["seconds"] for s in report["stages"]}


def table_times(summary: str) -> dict[str, str]:
    """The summary table's time cell of each stage (``0.31 s``)."""
    out = {}
    for line in summary.splitlines():
        m = re.match(r"^  (\S+)\s+\S+×\d+\s+\d+\s+\d+\s+\d+\s+(\S+ (?:s|min \d+ s))\s+\S+$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """Three runs of QUICK_AND_SLOW in one folder: ``--json``, then ``--no-live --force``,
    then ``--no-live`` with every photo up to date (nothing to send)."""
    folder = tmp_path_factory.mktemp("clocks")
    make_photos(folder / "photos", count=2, size=(160, 120))
    (folder / "wf.yaml").write_text(QUICK_AND_SLOW)
    return {"json": run(folder, "--json"),
            "forced": run(folder, "--no-live", "--force"),
            "again": run(folder, "--no-live")}


def test_every_view_shows_a_stage_its_own_time(runs):
    res, seconds = runs["json"]
    finished = {json.loads(x)["stage"]: json.loads(x) for x in res.stdout.splitlines()
                if '"stage_finished"' in x}
    labels = {"s1": "quick", "s2": "slow", "s3": "small→save"}
    assert {labels[k]: e["seconds"] for k, e in finished.items()} == seconds
    assert 0.3 <= seconds["quick"] < 1.0, seconds  # not the run's 2 s or more
    assert seconds["slow"] >= 2.0
    times = table_times(res.stderr)
    assert times == {label: fmt_seconds(s) for label, s in seconds.items()}, res.stderr

    res, seconds = runs["forced"]
    ends = dict(re.findall(r"stage (\S+): done in (.+? (?:s|min \d+ s)), ", res.stdout))
    assert ends == table_times(res.stdout) == \
        {label: fmt_seconds(s) for label, s in seconds.items()}, res.stdout


def test_a_stage_whose_items_were_all_up_to_date_took_no_time(runs):
    res, seconds = runs["again"]  # the photos are up to date: nothing to send
    assert "0 done, 0 failed, 2 skipped" in res.stdout
    assert seconds["small→save"] == 0.0, seconds  # not the 2 s or more the run took
    assert table_times(res.stdout)["small→save"] == "0.00 s"
