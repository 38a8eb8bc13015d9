"""CSV inputs stream: a file of millions of rows is counted and checked before the run
without being kept, then read again as the items go out. Every bad cell is reported at
once, before anything runs. Through the real ``flow`` command on real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from runner.files.csvinput import MAX_LISTED
from tests.conftest import REPO
from tests.test_reduce_inputs import STRAIGHT

ROWS = 2_000_000
PEAK_MIB = 64  # flow's own process, workers apart; keeping 2 M floats costs ~90 MiB alone

# flow run in this process, which then says its peak resident memory (VmHWM, in kB).
WRAPPER = """\
import atexit, sys

def peak():
    with open("/proc/self/status") as fh:
        kb = next(line.split()[1] for line in fh if line.startswith("VmHWM:"))
    with open("peak_kb.txt", "w") as out:
        out.write(kb)

atexit.register(peak)
from runner.cli import main
sys.exit(main(sys.argv[1:]))
"""

WF = """\
flow: 1
name: csvsum
inputs:
  rows: {csv: {path: data.csv, column: value}}
steps:
  - {id: halve, from: rows, uses: numeric.scale, with: {factor: 0.5}}
  - {id: total, uses: numeric.sum}
  - {id: out, uses: io.write, with: {to: total.json}}
"""


def _flow(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", WRAPPER, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_a_csv_of_millions_of_rows_streams_in_bounded_parent_memory(tmp_path):
    with open(tmp_path / "data.csv", "w") as fh:
        fh.write("id,value\n")
        fh.writelines(f"{i},{i}.5\n" for i in range(ROWS))
    (tmp_path / "wf.yaml").write_text(WF)
    res = _flow(tmp_path, "run", "wf.yaml", "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"started, {ROWS} items" in res.stdout  # counted before the run
    total = json.loads((tmp_path / "total.json").read_text())
    assert total == sum(i + 0.5 for i in range(ROWS)) * 0.5
    peak_mib = int((tmp_path / "peak_kb.txt").read_text()) / 1024
    assert peak_mib < PEAK_MIB, f"flow's process peaked at {peak_mib:.0f} MiB"


def test_every_bad_cell_is_reported_at_once_before_anything_runs(tmp_path):
    lines = ["id,value"] + [f"{i},{i}" for i in range(50_000)]
    lines[11] = "10,ten"  # line 12
    lines[20_001] = "20000,"  # line 20002: an empty cell
    lines[30_001] = "30000"  # line 30002: a short row
    lines[40_001] = '"40,000",nan'  # line 40002: not finite, after a quoted comma
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "wf.yaml").write_text(WF)
    res = _flow(tmp_path, "run", "wf.yaml", "--no-live")
    assert res.returncode == 2, res.stdout + res.stderr
    errors = [ln for ln in res.stderr.splitlines() if ": error: " in ln]
    assert errors == [
        "data.csv:12:4: error: inputs.rows: not a number: 'ten'",
        "data.csv:20002:7: error: inputs.rows: empty cell",
        "data.csv:30002:1: error: inputs.rows: row has 1 columns; column 1 asked for",
        "data.csv:40002:10: error: inputs.rows: not a number: 'nan'",
    ], res.stderr
    assert "started" not in res.stdout and not (tmp_path / "total.json").exists()


def test_a_thousand_bad_cells_are_listed_up_to_a_bound_and_counted(tmp_path):
    (tmp_path / "data.csv").write_text("id,value\n" + "".join(
        f"{i},x{i}\n" for i in range(1000)))
    (tmp_path / "wf.yaml").write_text(WF)
    res = _flow(tmp_path, "validate", "wf.yaml")
    assert res.returncode == 0  # the file is read when the run starts, not by validate
    res = _flow(tmp_path, "run", "wf.yaml", "--no-live")
    assert res.returncode == 2
    errors = [ln for ln in res.stderr.splitlines() if ": error: " in ln]
    assert len(errors) == MAX_LISTED + 1
    assert errors[0] == "data.csv:2:3: error: inputs.rows: not a number: 'x0'"
    assert errors[-1].endswith(f"inputs.rows: and {1000 - MAX_LISTED} more bad cells or rows")




def _sum_run(folder: Path, rows: int) -> tuple[subprocess.CompletedProcess, float]:
    """flow summing a CSV of ``rows`` rows straight into numeric.sum: the run and the
    peak of flow's own process in MiB."""
    folder.mkdir()
    with open(folder / "data.csv", "w") as fh:
        fh.write("id,value\n")
        fh.writelines(f"{i},{i}.5\n" for i in range(rows))
    (folder / "wf.yaml").write_text(STRAIGHT.replace("{column}", "value"))
    res = _flow(folder, "run", "wf.yaml", "--no-live")
    return res, int((folder / "peak_kb.txt").read_text()) / 1024


def test_a_csv_straight_into_a_reduce_streams_in_bounded_parent_memory(tmp_path):
    rows = 400_000
    tiny, tiny_peak = _sum_run(tmp_path / "tiny", 10)
    assert tiny.returncode == 0, tiny.stdout + tiny.stderr
    big, big_peak = _sum_run(tmp_path / "big", rows)
    assert big.returncode == 0, big.stdout + big.stderr
    assert json.loads((tmp_path / "big" / "total.json").read_text()) == \
        sum(i + 0.5 for i in range(rows))
    # Holding the rows costs ~140 MiB more here (an item each, then a task of them all);
    # streamed, the parent holds a few chunks in flight.
    print(f"\n[memory] parent peak: {tiny_peak:.0f} MiB for 10 rows, {big_peak:.0f} MiB "
          f"for {rows}")
    assert big_peak - tiny_peak < 40, f"{big_peak:.0f} MiB against {tiny_peak:.0f} MiB"
    again = _flow(tmp_path / "big", "run", "wf.yaml", "--no-live")
    assert again.returncode == 0 and "up to date" in again.stdout, again.stdout
    with open(tmp_path / "big" / "data.csv", "a") as fh:
        fh.write(f"{rows},1\n")  # one row more: the sum runs again
    third = _flow(tmp_path / "big", "run", "wf.yaml", "--no-live")
    assert third.returncode == 0, third.stdout + third.stderr
    assert json.loads((tmp_path / "big" / "total.json").read_text()) == \
        sum(i + 0.5 for i in range(rows)) + 1
