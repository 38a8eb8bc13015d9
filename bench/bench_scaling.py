"""Scaling: a CPU-bound step with -j 1, -j 2 and -j 4, against the same work in a Pool.

    python bench/bench_scaling.py [--items 1000] [--loops 70000] [--reps 3] [--jobs 1 2 4]

The step (bench/steps_cpu.py: ``burn``) is pure-Python arithmetic, about 5 ms an
item, no I/O. Reported per worker count: items/s, the speed-up over flow -j 1 and
the parallel efficiency (speed-up / the cores the workers can use). Targets:
-j 2 at >= 1.9x of -j 1; more workers than cores no slower. Beside it:
``Pool(j).map`` of the same function, and a plain loop in one process (the floor).
Writes bench/results/scaling.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from common import (
    BENCH,
    CORES_NOTE,
    OUT,
    WORKFLOWS,
    flow_run,
    fmt_rate,
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

TARGET = 1.9  # speed-up of -j 2 over -j 1
ENV = {"PYTHONPATH": os.pathsep.join(filter(None, [str(BENCH), os.environ.get("PYTHONPATH")]))}

# The comparison scripts: bench/ is on PYTHONPATH so ``steps_cpu`` imports in every worker.
POOL = """import sys
from multiprocessing import Pool
from steps_cpu import burn
n, loops, j = map(int, sys.argv[1:4])
with Pool(j) as pool:
    print(sum(pool.starmap(burn, [(i, loops) for i in range(n)])))
"""
LOOP = """import sys
from steps_cpu import burn
n, loops = map(int, sys.argv[1:3])
print(sum(burn(i, loops) for i in range(n)))
"""


STAGE_SECONDS: dict[int, list[float]] = {}  # flow's own timing of the burn stage, by -j


def run_one(kind: str, jobs: int, n: int, loops: int) -> tuple[float | None, Any, str | None]:
    """(seconds, total, error) of one run of ``kind`` ("flow", "pool", "loop")."""
    if kind == "flow":
        out = fresh_dir(OUT / "scaling") / "cpu.json"
        report = out.parent / "report.json"
        t = flow_run(WORKFLOWS / "cpu.yaml", {"n": n, "loops": loops, "out": rel(out)},
                     jobs=jobs, env=ENV, extra=["--report", str(report)])
        if not t.ok:
            return None, None, unavailable("flow", t)
        try:
            stages = json.loads(report.read_text())["stages"]
            burn = next(st["seconds"] for st in stages if st["label"] == "burn")
            STAGE_SECONDS.setdefault(jobs, []).append(burn)
            return t.seconds, read_total(out), None
        except (OSError, ValueError) as exc:
            return None, None, f"flow ran but its output is unreadable: {exc}"
    code = POOL if kind == "pool" else LOOP
    t = run_timed([sys.executable, "-c", code, str(n), str(loops), str(jobs)], env=ENV,
                  quiet=True)
    if not t.ok:
        return None, None, t.reason()
    return t.seconds, int(t.stdout.split()[-1]), None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--loops", type=int, default=70_000, help="loop turns an item (~5 ms)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--no-pool", action="store_true", help="skip the Pool(j) comparison")
    args = ap.parse_args(argv)
    cores = os.cpu_count() or 1
    n = args.items
    print(f"CPU-bound step, {n} items x {args.loops:,} loop turns; {args.reps} runs each")
    print(machine_line())
    print(CORES_NOTE.format(cores=cores))

    plan = [("loop", 1)] + [("flow", j) for j in args.jobs]
    plan += [] if args.no_pool else [("pool", j) for j in args.jobs]
    res: dict[tuple[str, int], dict[str, Any]] = {
        k: {"runs": [], "totals": set(), "error": None} for k in plan}
    for rep in range(args.reps):
        for key in plan if rep % 2 == 0 else plan[::-1]:
            r = res[key]
            if r["error"]:
                continue
            secs, total, err = run_one(key[0], key[1], n, args.loops)
            if err:
                r["error"] = err
                print(f"  {key[0]} -j {key[1]}: {err}", flush=True)
                continue
            r["runs"].append(secs)
            r["totals"].add(total)
            print(f"  {key[0]:<4} -j {key[1]} rep {rep + 1}: {fmt_s(secs):>8}  "
                  f"{n / secs:6.1f} items/s", flush=True)

    def rate(key: tuple[str, int]) -> float | None:
        r = res.get(key)
        return n / median(r["runs"]) if r and r["runs"] and not r["error"] else None

    truth = next(iter(res[("loop", 1)]["totals"]), None)
    rows, table = [], []
    for kind, j in plan:
        ips, base = rate((kind, j)), rate((kind, min(args.jobs)) if kind != "loop" else None)
        speedup = ips / base if ips and base else None
        eff = speedup / min(j, cores) if speedup else None
        totals = res[(kind, j)]["totals"]
        same = bool(totals) and truth is not None and totals == {truth}
        label = {"loop": "plain loop, 1 process", "flow": f"flow run -j {j}",
                 "pool": f"Pool({j}).map script"}[kind]
        rows.append({"kind": kind, "workers": j, "label": label, "items_per_s": ips,
                     "runs_s": [round(s, 4) for s in res[(kind, j)]["runs"]],
                     "speedup": speedup, "efficiency": eff, "same_total": same,
                     "error": res[(kind, j)]["error"]})
        table.append([label, spread(res[(kind, j)]["runs"]),
                      fmt_rate(ips, "") if ips else res[(kind, j)]["error"],
                      fmt_s(median(res[(kind, j)]["runs"])) if ips else "-",
                      f"{speedup:.2f}x" if speedup else "-", f"{eff:.0%}" if eff else "-",
                      "yes" if same else "-"])
    print()
    print(markdown_table(["run", "spread", "items/s", "median wall", "speed-up", "efficiency",
                          "same total"], table))
    print("\nspeed-up: over the same tool with the fewest workers; efficiency: speed-up / "
          f"min(workers, {cores} cores).")
    s2 = next((r["speedup"] for r in rows if r["kind"] == "flow" and r["workers"] == 2), None)
    if s2 is not None:
        print(f"flow -j 2 / -j 1: {s2:.2f}x ({'meets' if s2 >= TARGET else 'misses'} "
              f"the target >= {TARGET}x)")
    else:
        print(f"flow -j 2 / -j 1: - ({res.get(('flow', 2), {}).get('error')})")
    stage = {j: median(v) for j, v in STAGE_SECONDS.items()}
    stage_s2 = stage[1] / stage[2] if 1 in stage and 2 in stage else None
    if stage_s2:
        print(f"flow's burn stage alone (interpreter and pool start left out): -j 1 "
              f"{fmt_s(stage[1])}, -j 2 {fmt_s(stage[2])}: {stage_s2:.2f}x")
    print(CORES_NOTE.format(cores=cores))
    return publish("scaling", {"items": n, "loops": args.loops, "reps": args.reps,
                               "target": TARGET, "flow_speedup_2": s2,
                               "flow_stage_speedup_2": stage_s2,
                               "flow_stage_seconds": stage, "rows": rows})


if __name__ == "__main__":
    sys.exit(main())
