"""Dask against the local pool, on the same machine: photos and tiny numbers.

    python bench/bench_dask.py [--photos 150] [--n 10000000] [--reps 5] [--workers 2]
                               [--dask-defaults] [--worker-env NAME=VALUE] [--only JOB]

A cluster is started as on real machines (``python -m dask scheduler`` and ``--workers``
``python -m dask worker --nthreads 1`` processes, on 127.0.0.1, with the worker setting
the README recommends unless ``--dask-defaults``) and timed apart: its start is not part
of any run below. Then, alternating, each run a whole ``flow run``
process timed by wall clock:

  photos   bench/workflows/resize.yaml on the first --photos corpus photos (256x256, q85),
           ``-j --workers`` (the local pool) and ``--scheduler ADDR`` (the cluster);
  squares  bench/workflows/squares.yaml with n = --n, the same two ways.

Before the timed runs, one run of each on the fresh cluster (its workers import flow's
modules on their first task, as any long-lived cluster has done once) is reported apart.
Targets: the cluster's photo throughput >= 0.95x the pool's, its squares wall time <= 2x.
Also printed: each job's first stage as flow's own report times it (its items' work,
without the process's start and end), and how long importing Dask's client takes in a
fresh process that has flow's modules loaded (the part of a run's start the pool has
not). Writes bench/results/dask.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    CORES_NOTE,
    OUT,
    ROOT,
    USER_ENV,
    WORKFLOWS,
    Timed,
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
    spread,
)
from make_corpus import photo_dir
from numeric_scripts import expected

# The workers as the README's "Running on a cluster" starts them (flow's own local cluster
# does the same): glibc's own malloc thresholds, not Dask's MALLOC_TRIM_THRESHOLD_, and no
# sampling profiler.
RECOMMENDED_ENV = ('DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON={"MALLOC_TRIM_THRESHOLD_": None}',
                   "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False")
PHOTO_TARGET = 0.95  # the cluster's photos/s over the pool's (at least)
SQUARES_TARGET = 2.0  # the cluster's squares wall time over the pool's (at most)


class Cluster:
    """A scheduler and single-thread workers, each its own process, ended by :meth:`close`."""

    def __init__(self, workers: int, env: dict[str, str]) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="bench-dask-"))
        # The workers run this checkout's flow, as the client does (`python -m runner` from
        # it), not whichever flow is installed: the same versions everywhere.
        path = os.pathsep.join(p for p in (str(ROOT), USER_ENV.get("PYTHONPATH", "")) if p)
        self.env = {**USER_ENV, "PYTHONPATH": path, **env}
        self.file = self.folder / "scheduler.json"
        t0 = time.perf_counter()
        self.procs = [self._spawn("scheduler", "--host", "127.0.0.1", "--port", "0",
                                  "--no-dashboard", "--scheduler-file", str(self.file))]
        self.procs += [self._spawn("worker", "--nthreads", "1", "--scheduler-file",
                                   str(self.file), "--no-dashboard", "--host", "127.0.0.1")
                       for _ in range(workers)]
        self.address = self._wait(workers)
        self.start_seconds = time.perf_counter() - t0

    def _spawn(self, *args: str) -> subprocess.Popen:
        log = open(self.folder / f"{args[0]}-{len(getattr(self, 'procs', []))}.log", "ab")  # noqa: SIM115
        return subprocess.Popen([sys.executable, "-m", "dask", *args], env=self.env,
                                stdout=log, stderr=log, start_new_session=True)

    def _wait(self, workers: int) -> str:
        """The scheduler's address once ``workers`` workers have joined it."""
        from distributed import Client

        end = time.monotonic() + 120
        while not self.file.exists():
            if time.monotonic() > end:
                raise RuntimeError(f"the scheduler did not start: see {self.folder}")
            time.sleep(0.02)
        address = json.loads(self.file.read_text())["address"]
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=120)
        return address

    def close(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run(job: str, where: str, args: dict[str, Any], address: str) -> Timed:
    """One timed ``flow run`` of ``job`` ("photos" or "squares") on ``where``; flow's own
    report of it is left in ``report.json`` beside its outputs."""
    out = fresh_dir(OUT / "dask" / job / where)
    extra = ("--report", rel(OUT / "dask" / job / f"{where}.json"),
             *(("--scheduler", address) if where == "dask" else ()))
    if job == "photos":
        params = {"photos": rel(args["src"]), "out": rel(out)}
        return flow_run(WORKFLOWS / "resize.yaml", params, jobs=args["workers"], extra=extra)
    params = {"n": args["n"], "out": rel(out / "squares.json")}
    return flow_run(WORKFLOWS / "squares.yaml", params, jobs=args["workers"], extra=extra)


# What a `flow run` on a cluster does before its first task that a run on the pool does
# not: import Dask's client, in a process that has flow's own modules loaded already.
CLIENT_IMPORT = ("import time, runner.api, runner.run.orchestrate, yaml, jsonschema; "
                 "t = time.perf_counter(); import distributed; "
                 "print(time.perf_counter() - t)")


def client_import_seconds(reps: int) -> float:
    """The median seconds of importing Dask's client in a fresh process with flow loaded."""
    times = []
    for _ in range(reps):
        out = subprocess.run([sys.executable, "-c", CLIENT_IMPORT], cwd=ROOT, env=USER_ENV,
                             capture_output=True, text=True, check=True).stdout
        times.append(float(out))
    return median(times)


def stage_seconds(job: str, where: str) -> float:
    """The seconds flow's report gives the last run's first stage (its items' work, from
    the first task sent to the last result back: no start-up, no shutdown)."""
    report = json.loads((OUT / "dask" / job / f"{where}.json").read_text())
    return report["stages"][0]["seconds"]


def check(job: str, where: str, args: dict[str, Any]) -> str | None:
    """Why the outputs of the last run are wrong, or None."""
    out = OUT / "dask" / job / where
    if job == "photos":
        made = len(list(out.glob("*.jpg")))
        return None if made == args["photos"] else f"{made} of {args['photos']} photos written"
    total = read_total(out / "squares.json")
    return None if total == expected(args["n"]) else f"wrong total {total}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=150)
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--worker-env", action="append", default=[], metavar="NAME=VALUE",
                    help="an environment variable of the cluster's processes (Dask settings)")
    ap.add_argument("--dask-defaults", action="store_true",
                    help="start the workers with Dask's defaults, not the README's setting")
    ap.add_argument("--only", choices=["photos", "squares"], help="one of the two jobs")
    a = ap.parse_args(argv)
    if not a.dask_defaults:
        a.worker_env = [*RECOMMENDED_ENV, *a.worker_env]
    env = dict(kv.split("=", 1) for kv in a.worker_env)
    args = {"photos": a.photos, "n": a.n, "workers": a.workers, "src": photo_dir(a.photos)}
    print(f"the local pool (-j {a.workers}) against a Dask cluster of {a.workers} single-thread "
          f"workers on this machine; {a.reps} runs each, alternating")
    print(machine_line())
    print(CORES_NOTE.format(cores=os.cpu_count()))
    print("workers' environment: " + (" ".join(a.worker_env) or "Dask's defaults"))
    cluster = Cluster(a.workers, env)
    print(f"cluster start (scheduler and {a.workers} workers up): "
          f"{fmt_s(cluster.start_seconds)}, not counted below")
    runs: dict[tuple[str, str], list[float]] = {}
    stages: dict[tuple[str, str], list[float]] = {}
    first: dict[str, float] = {}
    try:
        for job in [a.only] if a.only else ["photos", "squares"]:
            t = run(job, "dask", args, cluster.address)  # the cluster's first: cold workers
            if not t.ok or (bad := check(job, "dask", args)):
                raise SystemExit(f"{job} on dask: {t.reason() if not t.ok else bad}")
            first[job] = t.seconds
            print(f"  {job:<8} dask  first run on the fresh cluster: {fmt_s(t.seconds)}")
            for rep in range(a.reps):
                for where in ("local", "dask") if rep % 2 == 0 else ("dask", "local"):
                    t = run(job, where, args, cluster.address)
                    if not t.ok or (bad := check(job, where, args)):
                        raise SystemExit(f"{job} on {where}: {t.reason() if not t.ok else bad}")
                    runs.setdefault((job, where), []).append(t.seconds)
                    stages.setdefault((job, where), []).append(stage_seconds(job, where))
                    print(f"  {job:<8} {where:<5} rep {rep + 1}: {fmt_s(t.seconds)} "
                          f"(its first stage {fmt_s(stages[(job, where)][-1])})", flush=True)
    finally:
        cluster.close()
    return report(a, args, runs, stages, first, cluster.start_seconds,
                  client_import_seconds(a.reps))


def report(a: argparse.Namespace, args: dict[str, Any], runs: dict[tuple[str, str], list[float]],
           stages: dict[tuple[str, str], list[float]], first: dict[str, float],
           start: float, client_import: float) -> int:
    med = {k: median(v) for k, v in runs.items()}
    med_stage = {k: median(v) for k, v in stages.items()}
    jobs = [job for job in ("photos", "squares") if (job, "local") in med]
    rows = []
    for job in jobs:
        for where in ("local", "dask"):
            secs = med[(job, where)]
            count = args["photos"] if job == "photos" else args["n"]
            unit = " photos/s" if job == "photos" else " items/s"
            rows.append([job, "local pool" if where == "local" else "Dask cluster",
                         fmt_s(secs), fmt_s(min(runs[(job, where)])), spread(runs[(job, where)]),
                         fmt_rate(count / secs, unit), fmt_s(med_stage[(job, where)])])
    print()
    print(markdown_table(["job", "where", "median wall", "best", "spread", "throughput",
                          "its stage (median, flow's report)"], rows))
    figures: dict[str, Any] = {}
    if "photos" in jobs:
        ratio = med[("photos", "local")] / med[("photos", "dask")]
        best = min(runs[("photos", "local")]) / min(runs[("photos", "dask")])
        stage = med_stage[("photos", "local")] / med_stage[("photos", "dask")]
        figures.update(photos_dask_vs_pool_throughput=round(ratio, 3),
                       photos_best_dask_vs_pool_throughput=round(best, 3),
                       photos_stage_dask_vs_pool_throughput=round(stage, 3),
                       photos_target=PHOTO_TARGET)
        print(f"\nphotos: Dask / pool throughput {ratio:.2f}x, whole processes "
              f"({'meets' if ratio >= PHOTO_TARGET else 'misses'} the target "
              f">= {PHOTO_TARGET}x); best runs {best:.2f}x; the stage alone {stage:.2f}x")
        share = client_import / med[("photos", "local")]
        figures.update(client_import_s=round(client_import, 3))
        print(f"photos: importing Dask's client, which every run on a cluster does before its "
              f"first task: {fmt_s(client_import)} ({share:.0%} of the pool's whole run)")
    if "squares" in jobs:
        ratio = med[("squares", "dask")] / med[("squares", "local")]
        best = min(runs[("squares", "dask")]) / min(runs[("squares", "local")])
        figures.update(squares_dask_vs_pool_wall=round(ratio, 3),
                       squares_best_dask_vs_pool_wall=round(best, 3),
                       squares_target=SQUARES_TARGET)
        print(f"squares: Dask / pool wall time {ratio:.2f}x "
              f"({'meets' if ratio <= SQUARES_TARGET else 'misses'} the target "
              f"<= {SQUARES_TARGET}x); best runs {best:.2f}x")
    print(f"cluster start, apart: {fmt_s(start)}; first runs on the fresh cluster: "
          + ", ".join(f"{job} {fmt_s(s)}" for job, s in first.items()))
    return publish("dask", {
        "photos": a.photos, "n": a.n, "workers": a.workers, "reps": a.reps,
        "worker_env": a.worker_env, "cluster_start_s": round(start, 3),
        "first_run_s": {k: round(v, 3) for k, v in first.items()},
        "runs_s": {f"{job}/{where}": [round(s, 3) for s in v] for (job, where), v in runs.items()},
        "stage_s": {f"{job}/{where}": [round(s, 3) for s in v]
                    for (job, where), v in stages.items()},
        "median_s": {f"{job}/{where}": round(s, 3) for (job, where), s in med.items()},
        **figures,
    })


if __name__ == "__main__":
    sys.exit(main())
