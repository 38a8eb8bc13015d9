"""Memory: peak RSS of ``flow run`` summing 100 k numeric items against 10 M.

    python bench/bench_memory.py [--small 100000] [--large 10000000] [--workers 2]

100x more items must not mean more memory in flow's parent process: target
peak(10 M) <= 1.3x peak(100 k). Peaks are read from /proc (VmHWM, the kernel's
own high-water mark of each process) every few milliseconds while the run goes,
for the parent and for every process below it (workers, a forkserver). The naive
``sum(Pool(2).map(square, range(N)))`` is measured alike, for contrast: its parent
holds every result. Writes bench/results/memory.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    OUT,
    ROOT,
    USER_ENV,
    WORKFLOWS,
    flow_cmd,
    fmt_s,
    machine_line,
    markdown_table,
    publish,
    rel,
)

TARGET = 1.3
SCRIPTS = Path(__file__).resolve().with_name("numeric_scripts.py")


def _status_kb(pid: int, field: str) -> int | None:
    """A ``/proc/PID/status`` memory field in KiB, or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _descendants(root: int) -> list[int]:
    """Every live process below ``root`` (children, grandchildren ...)."""
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        parent_of[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        kids = [p for p, pp in parent_of.items() if pp == pid]
        found += kids
        frontier += kids
    return found


def peak_rss(cmd: list[str], interval: float = 0.005) -> dict[str, Any]:
    """Run ``cmd`` and follow its memory: peak of the parent, of one child, of all at once."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=USER_ENV, stdout=subprocess.DEVNULL,
                                stderr=err)
        parent = child = total = 0
        while proc.poll() is None:
            parent = max(parent, _status_kb(proc.pid, "VmHWM:") or 0)
            kids = _descendants(proc.pid)
            for pid in kids:
                child = max(child, _status_kb(pid, "VmHWM:") or 0)
            own = _status_kb(proc.pid, "VmRSS:") or 0
            parent = max(parent, own)  # it may have grown since VmHWM was read
            total = max(total, own + sum(_status_kb(pid, "VmRSS:") or 0 for pid in kids))
            time.sleep(interval)
        seconds = time.perf_counter() - t0
        err.seek(0)
        lines = [ln for ln in err.read().decode(errors="replace").splitlines() if ln.strip()]
    error = None if proc.returncode == 0 else (
        f"exit {proc.returncode}: {lines[-1][:160] if lines else ''}")
    return {"parent_kib": parent, "largest_child_kib": child, "all_kib": total,
            "seconds": seconds, "error": error}


def flow_sum(n: int, workers: int) -> list[str]:
    out = OUT / "memory" / f"sum-{n}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)  # a real run each time, never an up-to-date skip
    return flow_cmd("run", rel(WORKFLOWS / "squares.yaml"), "-p", f"n={n}", "-p",
                    f"out={rel(out)}", "-j", str(workers), "--no-live")


def mib(kib: int | None) -> str:
    return f"{kib / 1024:.1f} MiB" if kib else "-"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", type=int, default=100_000)
    ap.add_argument("--large", type=int, default=10_000_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-naive", action="store_true", help="skip the naive Pool.map contrast")
    args = ap.parse_args(argv)
    print(machine_line())
    print("peak resident memory (VmHWM from /proc, polled every 5 ms)\n")

    runs: list[dict[str, Any]] = [{"what": "python -c pass", "n": 0,
                                   **peak_rss([sys.executable, "-c", "pass"])}]
    for n in (args.small, args.large):
        run = {"what": "flow run squares.yaml", "n": n, **peak_rss(flow_sum(n, args.workers))}
        if run["error"]:
            run["error"] = f"flow: not available (error {run['error']})"
        runs.append(run)
    if not args.no_naive:
        for n in (args.small, args.large):
            cmd = [sys.executable, str(SCRIPTS), "naive", str(n), str(args.workers)]
            runs.append({"what": "naive Pool.map script", "n": n, **peak_rss(cmd)})
    table = [[r["what"], f"{r['n']:,}",
              r["error"] or mib(r["parent_kib"]), mib(r["largest_child_kib"]),
              mib(r["all_kib"]), fmt_s(r["seconds"])] for r in runs]
    print(markdown_table(["command", "items", "parent peak", "largest child peak",
                          "all processes peak", "wall"], table))

    def ratio(what: str) -> float | None:
        small, large = (next(r for r in runs if r["what"] == what and r["n"] == n)
                        for n in (args.small, args.large))
        if small["error"] or large["error"] or not small["parent_kib"]:
            return None
        return large["parent_kib"] / small["parent_kib"]

    flow_ratio = ratio("flow run squares.yaml")
    print()
    if flow_ratio is None:
        err = next(r["error"] for r in runs if r["what"].startswith("flow") and r["error"])
        print(f"flow parent peak {args.large:,} / {args.small:,} items: - ({err})")
    else:
        verdict = "meets" if flow_ratio <= TARGET else "misses"
        print(f"flow parent peak {args.large:,} / {args.small:,} items: {flow_ratio:.2f}x "
              f"({verdict} the target <= {TARGET}x)")
    naive_ratio = None if args.no_naive else ratio("naive Pool.map script")
    if naive_ratio is not None:
        print(f"naive script parent peak, same ratio: {naive_ratio:.2f}x")
    return publish("memory", {"small": args.small, "large": args.large,
                              "workers": args.workers, "target": TARGET,
                              "flow_ratio": flow_ratio, "naive_ratio": naive_ratio,
                              "runs": runs})


if __name__ == "__main__":
    sys.exit(main())
