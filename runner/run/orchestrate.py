"""One run of a prepared workflow: stage book-keeping, the executors, the scheduler, the result.

:func:`run` builds a :class:`StageRun` per stage, starts the executors the stages
need (one serial executor for ``mode: serial`` stages, one pool or Dask cluster
for the others), lets the :class:`Scheduler` feed them, and turns what happened
into a :class:`RunResult`. It never prints: every event goes to the reporter.
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from runner.execute.base import Executor, ExecutorOptions
from runner.execute.serial import SerialExecutor
from runner.execute.spill import Spilled
from runner.files.inputs import Item
from runner.files.journal import State
from runner.model import Workflow
from runner.plan import Stage
from runner.report.events import (
    Notice,
    Reporter,
    RunFinished,
    RunResult,
    RunStarted,
    StageInfo,
    StageSummary,
)
from runner.run.feed import Feed, auto_chunksize
from runner.run.prepare import Prepared, prepare, spill_dir
from runner.run.scheduler import Scheduler, StageRun, Stopped

PRELOAD = ("runner.execute.chain", "steps.image", "steps.image_sheet", "steps.image_color",
           "steps.image_compose", "steps.image_text", "steps.image_filter", "steps.numeric",
           "steps.numeric_reduce", "steps.io", "steps.util")


@dataclass(frozen=True)
class RunOptions:
    """How to run: the command line's choices."""

    jobs: int | None = None  # cap on worker processes (-j)
    allow_outside: bool = False
    executor: str = "local"
    scheduler: str | None = None
    force: bool = False  # redo items that are up to date
    max_tasks_per_worker: int | None = None
    worker_memory_mb: int | None = None


def warm_up() -> None:
    """Start the local pool's fork server early (it preloads the step modules)."""
    from runner.execute.local.executor import warm_up as start_fork_server

    start_fork_server(PRELOAD)


def usable_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1



def stage_workers(stage: Stage, jobs: int | None, count: int) -> int:
    """Workers for a stage: ``auto`` is the usable CPUs; never more than the items or -j."""
    if stage.mode == "serial" or stage.kind == "reduce":
        return 1  # a reduce is one task
    asked = stage.parallel.workers or usable_cpus()
    return max(1, min(asked, jobs or asked, count))


def run(workflow: Workflow, reporter: Reporter, options: RunOptions = RunOptions(),
        prepared: Prepared | None = None,
        make_executor: Callable[[str, RunOptions], Executor] | None = None) -> RunResult:
    """Run every stage; returns the result (exit code, failures, counts).

    ``make_executor(kind, options)`` makes the executor of a kind ("serial", "local",
    "dask"), not yet started; by default :func:`new_executor`. Tests give their own.
    """
    t0 = time.monotonic()
    prep = prepared or prepare(workflow, options.allow_outside)
    runs = {st.id: StageRun(st, prep.chains[st.id],
                            stage_workers(st, options.jobs, prep.root_count(st)))
            for st in prep.plan.stages}
    pool_size = max((r.workers for r in runs.values() if r.stage.mode != "serial"), default=0)
    infos = tuple(StageInfo(r.stage.id, r.stage.label, r.stage.mode, r.workers,
                            prep.root_count(r.stage) if _fed_by_inputs(r.stage, prep) else None)
                  for r in runs.values())
    reporter.handle(RunStarted(workflow.name, infos, pool_size, options.executor, time.time()))
    executors = _start_executors(runs, options, workflow, pool_size,
                                 make_executor or new_executor)
    store = State(workflow.workdir, force=options.force)
    sched = Scheduler(runs, executors, reporter, workflow.workdir,
                      start_feed=lambda r, all_runs: _feed(prep, r, all_runs, store), state=store)
    started = list({id(ex): ex for ex in executors.values()}.values())
    state, stopped_by, unrecorded = "done", None, None
    try:
        sched.run()
    except Stopped as stop:
        state, stopped_by = "stopped", stop.record
        _cancel(started, sched)
    except KeyboardInterrupt:
        state = "interrupted"
        _cancel(started, sched)
    finally:
        for ex in started:
            ex.close()
        unrecorded = _save_record(store)  # even when interrupted: the next run finishes the rest
        _cleanup(prep, workflow)
    if state == "done" and sched.failures:
        state = "failed"
    notices = tuple(f"{msg} ({n} item{'s' if n != 1 else ''})" if n > 1 else msg
                    for msg, n in sched.notices.items()) + ((unrecorded,) if unrecorded else ())
    for msg in notices:
        reporter.handle(Notice(msg, time.time()))
    result = RunResult(
        workflow=workflow.name, state=state,
        stages=tuple(StageSummary(r.stage.id, r.stage.label, r.stage.mode, r.workers, r.state,
                                  r.done, r.failed, r.skipped,
                                  (time.monotonic() - r.started) if r.started else 0.0)
                     for r in runs.values()),
        failures=tuple(sched.failures), outputs=tuple(prep.output_dirs), notices=notices,
        seconds=time.monotonic() - t0, stopped_by=stopped_by,
        values=_final_values(runs))
    reporter.handle(RunFinished(result, time.time()))
    return result


def _fed_by_inputs(stage: Stage, prep: Prepared) -> bool:
    return all(s in prep.sources for s in stage.sources)


def new_executor(kind: str, options: RunOptions) -> Executor:
    """A new executor of ``kind``: "serial" (flow's own process), "local" (the pool of
    this machine) or "dask" (``options.scheduler``'s cluster, or a local one)."""
    if kind == "serial":
        return SerialExecutor()
    if kind == "dask":
        from runner.execute.dask.executor import DaskExecutor

        return DaskExecutor(options.scheduler)  # no address: a local cluster
    from runner.execute.local.executor import LocalExecutor

    return LocalExecutor()


def _start_executors(runs: dict[str, StageRun], options: RunOptions, workflow: Workflow,
                     pool_size: int, new: Callable[[str, RunOptions], Executor],
                     ) -> dict[str, Executor]:
    """The started executor of each stage, by stage id: ``mode: serial`` stages share a
    serial one; the others share one of ``options.executor``'s kind, ``pool_size`` wide."""
    kinds = {sid: "serial" if r.stage.mode == "serial" else options.executor
             for sid, r in runs.items()}
    made: dict[str, Executor] = {}
    try:
        # The pool first: it may fail to start (no dask), and then nothing else ran.
        for kind in sorted(set(kinds.values()), key=lambda k: k == "serial"):
            ex = new(kind, options)
            ex.start(ExecutorOptions(
                workers=1 if kind == "serial" else pool_size,
                max_tasks_per_worker=options.max_tasks_per_worker,
                worker_memory_mb=options.worker_memory_mb, preload=PRELOAD,
                extra_paths=(os.path.dirname(os.path.abspath(workflow.path)),)))
            made[kind] = ex
    except BaseException:
        for ex in made.values():
            ex.cancel()
        raise
    return {sid: made[kind] for sid, kind in kinds.items()}


def _cancel(executors: list[Executor], sched: Scheduler) -> None:
    for ex in executors:
        ex.cancel()
    sched.cancel_all()


def _save_record(store: State) -> str | None:
    """Save what was made; a notice (not a traceback) if the disk refuses it."""
    try:
        store.save()
    except OSError as exc:  # e.g. a full disk (the writer says which file, in words)
        why = f"{exc.strerror.lower()}: {store.path}" if exc.strerror else str(exc)
        return f"could not record what was made ({why}); the next run makes these again"
    return None


def _cleanup(prep: Prepared, workflow: Workflow) -> None:
    """Remove spilled images and temporary files a killed worker may have left."""
    from runner.files.atomic import sweep_temp

    shutil.rmtree(spill_dir(workflow.workdir), ignore_errors=True)
    sweep_temp(prep.output_dirs)


def _final_values(runs: dict[str, StageRun]) -> dict[str, object]:
    """The single value of each reduce stage nobody consumes (e.g. a sum), if small."""
    out: dict[str, object] = {}
    consumed = {s for r in runs.values() for s in r.stage.sources}
    for r in runs.values():
        if r.stage.kind == "reduce" and r.stage.id not in consumed and len(r.results) == 1:
            value = r.results[0][1].value
            written = isinstance(value, str) and os.path.isabs(value)  # listed under outputs
            if not written and not isinstance(value, Spilled) and len(repr(value)) <= 500:
                out[r.stage.steps[-1].id] = value
    return out


def _feed(prep: Prepared, r: StageRun, runs: dict[str, StageRun], state: State) -> Feed:
    """The task feed of a stage whose sources are all finished."""
    st = r.stage
    base = dict(stage=st, sc=r.sc, resolver=prep.resolver, workers=r.workers, chunksize=1,
                state=state)
    if st.kind == "reduce":
        r.total = 1
        if st.folded:
            return Feed(**base, partials=runs[st.sources[0]].partials)
        return Feed(**base, reduce_items=list(_upstream(prep, st, runs)))
    if len(st.sources) == 1 and st.sources[0] in prep.sources:
        src = prep.sources[st.sources[0]]
        r.total = src.count
        if src.span is not None and not r.sc.outputs:
            # Ranges travel as sub-ranges: a few per worker, never one pickle per number.
            size = st.parallel.chunksize or max(1, -(-src.count // (r.workers * 8)))
            return Feed(**{**base, "chunksize": size}, span=src.span)
    else:
        r.total = sum(prep.sources[s].count if s in prep.sources else len(runs[s].results)
                      for s in st.sources)
    size = st.parallel.chunksize or auto_chunksize(r.total or 0, r.workers, st.mode)
    return Feed(**{**base, "chunksize": size}, items=iter(_upstream(prep, st, runs)))


def _upstream(prep: Prepared, st: Stage, runs: dict[str, StageRun]) -> Iterable[Item]:
    return itertools.chain.from_iterable(
        prep.sources[s].items() if s in prep.sources else runs[s].outputs()
        for s in st.sources)
