"""A large CSV straight into a reduce: flow's peak memory and its time to the first task.

    python bench/bench_csv.py [--rows 3000000] [--steps numeric.sum numeric.histogram]
                              [--repo PATH]

Writes a CSV of ``--rows`` rows (``id,value``) once under bench/out/csv, then for each
reduce step runs ``flow run --json --force`` on a workflow that feeds the CSV's column
straight into it (no map step between). Reports flow's own peak resident memory
(VmHWM of its process, polled from /proc, workers apart), the time from the command's
start to its first task (the ``stage_started`` event: before it, flow counted and
checked the CSV, and gathered whatever it gathers), and the whole run's wall time.
``--repo`` runs another checkout's flow (for a before-and-after). Writes
bench/results/csv.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench_memory import _status_kb, mib
from common import OUT, ROOT, USER_ENV, fmt_s, machine_line, markdown_table, publish

WF = """\
flow: 1
name: csvreduce
inputs:
  rows: {{csv: {{path: data.csv, column: value}}}}
steps:
  - {{id: reduce, from: rows, uses: {step}}}
"""


def write_csv(folder: Path, rows: int) -> Path:
    """``data.csv`` of ``rows`` rows in ``folder``, made once per row count."""
    path = folder / "data.csv"
    mark = folder / "rows.txt"
    if path.exists() and mark.exists() and mark.read_text() == str(rows):
        return path
    folder.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fh.write("id,value\n")
        for start in range(0, rows, 100_000):
            fh.writelines(f"{i},{i % 1000}.25\n" for i in range(start, min(rows, start + 100_000)))
    mark.write_text(str(rows))
    return path


def measure(folder: Path, step: str, repo: Path) -> dict[str, Any]:
    """One run of the reduce ``step`` over the CSV in ``folder``: peak, first task, wall."""
    (folder / "wf.yaml").write_text(WF.format(step=step))
    env = dict(USER_ENV, PYTHONPATH=str(repo))
    first: list[float] = []
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "runner", "run", "wf.yaml", "--json",
                             "--force"], cwd=folder, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if not first and '"stage_started"' in line:
                first.append(time.perf_counter() - t0)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _status_kb(proc.pid, "VmHWM:") or 0)
        time.sleep(0.005)
    wall = time.perf_counter() - t0
    reader.join(5)
    return {"step": step, "parent_kib": peak, "first_task_s": first[0] if first else None,
            "seconds": wall, "exit": proc.returncode}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--steps", nargs="+", default=["numeric.sum", "numeric.stats",
                                                   "numeric.histogram"])
    ap.add_argument("--repo", type=Path, default=ROOT, help="the flow checkout to run")
    args = ap.parse_args(argv)
    folder = OUT / "csv"
    print(machine_line())
    csv = write_csv(folder, args.rows)
    print(f"{csv} ({os.path.getsize(csv) / 1e6:.0f} MB, {args.rows:,} rows); flow from "
          f"{args.repo}\n")
    runs = [measure(folder, step, args.repo.resolve()) for step in args.steps]
    print(markdown_table(["reduce", "flow's peak", "first task after", "wall", "exit"], [
        [r["step"], mib(r["parent_kib"]), fmt_s(r["first_task_s"]), fmt_s(r["seconds"]),
         str(r["exit"])] for r in runs]))
    return publish("csv", {"rows": args.rows, "repo": str(args.repo), "runs": runs})


if __name__ == "__main__":
    sys.exit(main())
