"""Tiny numeric items: the squares of range(N) summed, flow against the Pool.map scripts.

    python bench/bench_numeric.py [--n 20000000] [--n-chunk1 100000] [--reps 3] [--workers 2]

Compares, each as a whole process timed by wall clock (bench/numeric_scripts.py):
  naive     sum(Pool(2).map(square, range(N)))            (what the docs show)
  chunk1    the same with chunksize=1, on a smaller N      (reported as us/item)
  subrange  each worker loops over its own sub-range       (hand-written, the floor)
  flow      flow run bench/workflows/squares.yaml -p n=N
The totals must be the same exact integer. Target: flow's wall time <= 0.5x naive's.
Writes bench/results/numeric.json.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from common import (
    CORES_NOTE,
    OUT,
    WORKFLOWS,
    flow_run,
    fmt_s,
    fresh_dir,
    machine_line,
    markdown_table,
    median,
    publish,
    read_total,
    rel,
    run_timed,
    spread,
    unavailable,
)
from numeric_scripts import expected

SCRIPTS = Path(__file__).resolve().with_name("numeric_scripts.py")

TARGET = 0.5  # flow's wall time / the naive script's


# --- the benchmark ---------------------------------------------------------------------

def run_script(name: str, n: int, workers: int) -> tuple[float | None, int | None, str | None]:
    """(seconds, total, error) of one script run as its own process."""
    t = run_timed([sys.executable, str(SCRIPTS), name, str(n), str(workers)], quiet=True)
    if not t.ok:
        return None, None, t.reason()
    return t.seconds, int(t.stdout.split()[-1]), None


def run_flow(n: int, workers: int) -> tuple[float | None, Any, str | None]:
    out = fresh_dir(OUT / "numeric") / "squares.json"
    t = flow_run(WORKFLOWS / "squares.yaml", {"n": n, "out": rel(out)}, jobs=workers)
    if not t.ok:
        return None, None, unavailable("flow", t)
    try:
        return t.seconds, read_total(out), None
    except (OSError, ValueError) as exc:
        return None, None, f"flow ran but its output is unreadable: {exc}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000_000)
    ap.add_argument("--n-chunk1", type=int, default=100_000, help="N for chunksize=1")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args(argv)
    print(f"squares of range(N) summed, N = {args.n:,}; {args.workers} workers; "
          f"{args.reps} runs each, alternating")
    print(machine_line())
    print(CORES_NOTE.format(cores=os.cpu_count()))
    plan = [("naive", args.n), ("subrange", args.n), ("flow", args.n),
            ("chunk1", args.n_chunk1)]
    res: dict[str, dict[str, Any]] = {k: {"n": n, "runs": [], "totals": set(), "error": None}
                                      for k, n in plan}
    for rep in range(args.reps):
        for key, n in plan if rep % 2 == 0 else plan[::-1]:
            r = res[key]
            if r["error"]:
                continue
            secs, total, err = (run_flow(n, args.workers) if key == "flow"
                                else run_script(key, n, args.workers))
            if err:
                r["error"] = err
                print(f"  {key:<9} {err}", flush=True)
                continue
            r["runs"].append(secs)
            r["totals"].add(total)
            print(f"  {key:<9} rep {rep + 1}: {fmt_s(secs):>8}  "
                  f"{secs / n * 1e6:.3f} us/item", flush=True)

    naive = median(res["naive"]["runs"]) if res["naive"]["runs"] else None
    table, rows = [], []
    for key, r in res.items():
        wall = median(r["runs"]) if r["runs"] and not r["error"] else None
        right = expected(r["n"])
        exact = bool(r["totals"]) and all(type(t) is int and t == right for t in r["totals"])
        ratio = wall / naive if wall and naive and r["n"] == args.n else None
        rows.append({"key": key, "n": r["n"], "runs_s": [round(s, 4) for s in r["runs"]],
                     "median_s": wall, "us_per_item": wall / r["n"] * 1e6 if wall else None,
                     "vs_naive": ratio, "exact": exact, "error": r["error"],
                     "totals": [str(t) for t in r["totals"]]})
        table.append([key, f"{r['n']:,}", spread(r["runs"]),
                      fmt_s(wall) if wall else r["error"] or "-",
                      f"{wall / r['n'] * 1e6:.3f}" if wall else "-",
                      f"{ratio:.2f}x" if ratio else "-",
                      "exact" if exact else ("-" if not r["totals"] else "WRONG")])
    print()
    headers = ["script", "N", "spread", "median wall", "us/item", "vs naive", "total"]
    print(markdown_table(headers, table))
    flow = rows[2]
    if flow["vs_naive"] is not None:
        verdict = "meets" if flow["vs_naive"] <= TARGET else "misses"
        print(f"\nflow / naive wall time: {flow['vs_naive']:.3f} "
              f"({verdict} the target <= {TARGET})")
    else:
        print(f"\nflow / naive wall time: - ({flow['error']})")
    print(f"expected total: {expected(args.n)}")
    return publish("numeric", {"n": args.n, "workers": args.workers, "reps": args.reps,
                               "target": TARGET, "flow_vs_naive": flow["vs_naive"],
                               "scripts": rows})


if __name__ == "__main__":
    sys.exit(main())
