"""Start-up: how long ``flow validate`` and a one-item ``flow run`` take, wall clock.

    python bench/bench_startup.py [--runs 10] [--workflow workflows/resize.yaml]

Medians of ``--runs`` runs each, beside ``python -c pass`` (the interpreter's own
floor). Targets: validate <= 150 ms, a one-item run <= 0.5 s. Then
``python -X importtime`` of validate, to show what start-up spends its time importing.
Writes bench/results/startup.json.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import (
    OUT,
    ROOT,
    WORKFLOWS,
    Timed,
    flow_cmd,
    flow_run,
    fmt_s,
    machine_line,
    markdown_table,
    median,
    publish,
    rel,
    run_timed,
    settled,
    unavailable,
)

TARGETS = {"validate": 0.150, "run": 0.5}


def candidates(given: str | None) -> list[Path]:
    """Workflows to validate, best first: the one given, the examples, then ours."""
    if given:
        return [ROOT / given]
    examples = sorted((ROOT / "workflows").glob("*.yaml"))
    examples.sort(key=lambda p: p.name != "resize.yaml")  # the typical one first
    return [*examples, WORKFLOWS / "resize.yaml"]


def pick_workflow(given: str | None) -> tuple[Path | None, str | None]:
    """The first candidate that validates cleanly (exit 0), or the last error."""
    error = "no workflow found"
    for wf in candidates(given):
        t = run_timed(flow_cmd("validate", rel(wf)))
        if t.ok:
            return wf, None
        error = unavailable(f"flow validate {rel(wf)}", t)
    return None, error


def importtime(wf: Path, top: int = 10) -> dict[str, list[dict[str, Any]]]:
    """What ``flow validate`` spends start-up on importing, from ``python -X importtime``.

    ``top_level``: the imports made directly (depth 0), by cumulative time, so a lazy
    import that is not lazy shows; ``by_self``: single modules by their own time.
    """
    t = run_timed([sys.executable, "-X", "importtime", "-m", "runner", "validate", rel(wf)])
    rows = []
    for line in t.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = line[len("import time:"):].split("|")
        rows.append({"module": name.strip(), "self_us": int(self_us),
                     "cumulative_us": int(cum_us), "depth": (len(name) - len(name.lstrip())) // 2})
    top_level = [r for r in rows if r["depth"] == 0]
    return {"top_level": sorted(top_level, key=lambda r: -r["cumulative_us"])[:top],
            "by_self": sorted(rows, key=lambda r: -r["self_us"])[:top],
            "total_us": sum(r["cumulative_us"] for r in top_level)}


def timed_runs(runs: int, fn: Callable[[], Timed]) -> tuple[list[float], str | None]:
    """Times of ``runs`` runs of ``fn`` after one untimed warm-up run (it writes the .pyc
    files and fills the page cache, as any earlier use would); stops at the first failure."""
    times: list[float] = []
    warm = fn()
    if not warm.ok:
        return times, unavailable("flow", warm)
    settled()  # one wait for an idle machine per batch: each run is short
    for _ in range(runs):
        t = fn()
        if not t.ok:
            return times, unavailable("flow", t)
        times.append(t.seconds)
    return times, None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--workflow", help="the workflow to validate (default: workflows/resize.yaml)")
    args = ap.parse_args(argv)
    print(machine_line())

    floor, _ = timed_runs(args.runs, lambda: run_timed([sys.executable, "-c", "pass"]))
    wf, error = pick_workflow(args.workflow)
    rows: dict[str, dict[str, Any]] = {"python -c pass": {"runs": floor, "error": None}}
    if wf is not None:
        runs, err = timed_runs(args.runs, lambda: run_timed(flow_cmd("validate", rel(wf))))
        rows[f"flow validate {rel(wf)}"] = {"runs": runs, "error": err, "target": "validate"}
    else:
        rows["flow validate"] = {"runs": [], "error": error, "target": "validate"}
    out = OUT / "startup" / "one.json"

    def one_run():
        out.unlink(missing_ok=True)  # a fresh run each time, not an up-to-date skip
        return flow_run(WORKFLOWS / "one.yaml", {"out": rel(out)}, quiet=False)

    runs, err = timed_runs(args.runs, one_run)
    rows["flow run bench/workflows/one.yaml (1 item)"] = {"runs": runs, "error": err,
                                                           "target": "run"}
    table, results = [], []
    for name, r in rows.items():
        wall = median(r["runs"]) if r["runs"] and not r["error"] else None
        target = TARGETS.get(r.get("target", ""))
        verdict = "-" if target is None or wall is None else (
            f"{'meets' if wall <= target else 'misses'} <= {fmt_s(target)}")
        table.append([name, len(r["runs"]), fmt_s(wall) if wall else r["error"],
                      fmt_s(min(r["runs"])) if wall else "-", verdict])
        results.append({"name": name, "runs_s": [round(s, 4) for s in r["runs"]],
                        "median_s": wall, "target_s": target, "error": r["error"]})
    print()
    print(markdown_table(["command", "runs", "median wall", "best", "target"], table))
    # Even when validate fails, its imports show where start-up time goes.
    imports = importtime(wf or candidates(args.workflow)[-1])
    if imports["top_level"]:
        print(f"\nflow validate imports {imports['total_us'] / 1000:.0f} ms in all "
              "(python -X importtime, cumulative us / self us):")
        for title, key in (("top-level imports", "top_level"), ("single modules", "by_self")):
            print(f"\n{title}:")
            print(markdown_table(["module", "cumulative", "self"], [
                [r["module"], f"{r['cumulative_us'] / 1e3:.1f} ms", f"{r['self_us'] / 1e3:.1f} ms"]
                for r in imports[key]]))
    return publish("startup", {"runs": args.runs, "commands": results, "imports": imports})


if __name__ == "__main__":
    sys.exit(main())
