"""One final account on a terminal: the live table's last frame, then a summary that
does not repeat it, with each failed item listed once, up to a limit.

``flow run`` under a real pseudo-terminal, as a user sees it. The last frame of the
table stays on screen with each stage's final counts and state; under it the summary
gives the headline, the failed items (20 at most, then "… N more (see --report)"),
the results and the outputs, and no second table of stages.
"""

from __future__ import annotations

import json
import re

from tests.terminal import run_on_terminal

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def test_the_last_frame_and_the_summary_are_one_account(tmp_path):
    values = [-i for i in range(1, 26)] + list(range(1, 31))  # 25 fail, 30 do not
    (tmp_path / "wf.yaml").write_text(f"""\
flow: 1
name: account
inputs:
  nums: {{values: {values}}}
steps:
  - {{id: logs, from: nums, uses: numeric.log}}
  - {{id: total, uses: numeric.sum}}
""")
    code, raw = run_on_terminal(tmp_path, "run", "wf.yaml", "--report", "report.json")
    screen = ANSI.sub("", raw)
    assert code == 1, screen
    report = json.loads((tmp_path / "report.json").read_text())
    final = screen[screen.rindex("account · 2 stages"):]  # the last frame, then the summary
    frame, summary = final.split("account: finished in ", 1)
    rows = {line.split()[0]: line.split() for line in frame.splitlines()[1:] if line.strip()}
    # The last frame: each stage's final counts and state, as the report has them.
    for stage in report["stages"]:
        cells = rows[stage["label"]]
        assert cells[-1] == stage["state"], cells
        assert f"{stage['done']}/" in cells[3] and cells[4] == str(stage["failed"]), cells
    assert rows["logs"][-1] == "partial" and rows["logs"][4] == "25"
    assert "so far" not in frame  # the running count is gone: the summary lists them
    # The summary: no second stage table; the failed items once, up to the limit.
    assert "with 25 failed items" in summary.splitlines()[0]
    assert not any(line.split()[:2] == ["stage", "mode"] for line in summary.splitlines())
    listed = [line for line in final.splitlines() if re.search(r"item \d+ \(-\d+\) at logs", line)]
    assert len(listed) == 20 and len(set(listed)) == 20, listed
    assert final.count("… 5 more (see --report)") == 1
    [total] = [line for line in summary.splitlines() if line.startswith("  total: ")]
    assert total.endswith("  (partial: 25 items of its input failed)"), total
