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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from runner.execute.base import Executor, ExecutorOptions
from runner.execute.serial import SerialExecutor
from runner.files.identity import Snapshot
from runner.files.inputs import Item
from runner.files.journal import Journal
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
from runner.run.branches import branch_signatures, tree_branches
from runner.run.chains import StageChain, stage_signatures
from runner.run.feed import CHANGED, LEFT, Feed, auto_chunksize, lacking
from runner.run.lazy import LazyExecutor
from runner.run.prepare import Prepared, prepare, spill_dir
from runner.run.record import Recorder
from runner.run.results import VALUES_LISTED, ending, keeps_nothing, unconsumed
from runner.run.scheduler import Scheduler, StageRun, Stopped
from runner.run.session import Session, open_session
from runner.run.uptodate import Judge
from runner.run.warm import PRELOAD

FOLD_CHUNK = 4096  # items of a reduce's input folded per task, at most


@dataclass(frozen=True)
class RunOptions:
    """How to run: the command line's choices."""

    jobs: int | None = None  # cap on worker processes (-j)
    allow_outside: bool = False
    executor: str = "local"
    scheduler: str | None = None
    force: bool = False  # redo items that are up to date
    only_failed: bool = False  # run only the items that failed last time
    wait: bool = True  # wait for another run in the same folder (else refuse, exit 2)
    max_tasks_per_worker: int | None = None
    worker_memory_mb: int | None = None


def usable_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1



def stage_workers(stage: Stage, jobs: int | None, count: int, cpus: int | None = None) -> int:
    """Workers for a stage: ``auto`` is the usable CPUs (or ``cpus``); never more than the
    items or -j."""
    if stage.mode == "serial" or (stage.kind == "reduce" and not stage.folds_input):
        return 1  # a reduce is one task (one that folds its input in chunks is not)
    asked = stage.parallel.workers or cpus or usable_cpus()
    return max(1, min(asked, jobs or asked, count))


def pool_size(prep: Prepared, jobs: int | None, cpus: int | None = None) -> int:
    """The worker processes a run of ``prep`` starts with -j ``jobs``, on this machine or
    on one with ``cpus`` CPUs: the widest stage that does not run serially."""
    return max((stage_workers(st, jobs, prep.task_items(st), cpus) for st in prep.plan.stages
                if st.mode != "serial"), default=0)


def run(workflow: Workflow, reporter: Reporter, options: RunOptions = RunOptions(),
        prepared: Prepared | None = None,
        make_executor: Callable[[str, RunOptions], Executor] | None = None,
        session: Session | None = None) -> RunResult:
    """Run every stage; returns the result (exit code, failures, counts).

    ``make_executor(kind, options)`` makes the executor of a kind ("serial", "local",
    "dask"), not yet started; by default :func:`new_executor`. Tests give their own.
    ``session``: the working directory's lock and journal, when the caller took them;
    else they are taken here (FlowError when they cannot be).
    """
    own = session is None
    if session is None:
        session = open_session(workflow.workdir, workflow.path, wait=options.wait)
    try:
        return _run(workflow, reporter, options, prepared, make_executor, session)
    finally:
        if own:
            session.close()


def judge_for(workflow: Workflow, prep: Prepared, journal: Journal,
              options: RunOptions) -> Judge:
    """The judge of what is up to date in this prepared run."""
    sigs = stage_signatures(prep.plan, prep.chains, workflow)
    arms = tree_branches(prep, workflow)
    sigs.update(branch_signatures(arms, sigs, workflow))
    # One stage alone meets each source once (a tree's branches meet it once each).
    snap = Snapshot(workflow.workdir, keep=len(prep.plan.stages) > 1 or bool(arms))
    return Judge(prep, journal, sigs, os.path.abspath(workflow.path), snap, options.force,
                 options.only_failed, branches=arms)


def _run(workflow: Workflow, reporter: Reporter, options: RunOptions,
         prepared: Prepared | None, make_executor: Callable[[str, RunOptions], Executor] | None,
         session: Session) -> RunResult:
    t0 = time.monotonic()
    prep = prepared or prepare(workflow, options.allow_outside, session.journal.checked)
    if prep.outputs_digest and not prep.checked_before:  # the next run need not check again
        session.journal.set_checked(prep.outputs_digest, prep.output_dirs)
    _sweep_spills(workflow)
    judge = judge_for(workflow, prep, session.journal, options)
    ends = unconsumed(prep.plan.stages)
    runs = {st.id: StageRun(st, _chain(prep, st, judge),
                            stage_workers(st, options.jobs, prep.task_items(st)),
                            keep=VALUES_LISTED + 1 if st.id in ends and keeps_nothing(st)
                            else None)
            for st in prep.plan.stages}
    pool = pool_size(prep, options.jobs)
    infos = tuple(StageInfo(r.stage.id, r.stage.label, r.stage.mode, r.workers,
                            prep.root_count(r.stage) if _fed_by_inputs(r.stage, prep) else None)
                  for r in runs.values())
    reporter.handle(RunStarted(workflow.name, infos, pool, options.executor, time.time()))
    executors = _start_executors(runs, options, workflow, pool,
                                 make_executor or new_executor)
    recorder = Recorder(session.journal, judge)
    sched = Scheduler(runs, executors, reporter, workflow.workdir,
                      start_feed=lambda r, all_runs: _feed(
                          prep, r, all_runs, judge,
                          _width(executors[r.stage.id], r, prep, options)),
                      recorder=recorder)
    started = list({id(ex): ex for ex in executors.values()}.values())
    state, stopped_by = "done", None
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
        recorder.finish(state == "done", runs)
        judge.snap.close()
        _cleanup(prep, workflow)
    if state == "done" and sched.failures:
        state = "failed"
    end = ending(runs.values(), ends)
    notices = _journal_notices(session) + tuple(
        f"{msg} ({n} item{'s' if n != 1 else ''})" if n > 1 else msg
        for msg, n in sched.notices.items()) + tuple(end.notices)
    for msg in notices:
        reporter.handle(Notice(msg, time.time()))
    result = RunResult(
        workflow=workflow.name, state=state,
        stages=tuple(StageSummary(r.stage.id, r.stage.label, r.stage.mode, r.workers, r.state,
                                  r.done, r.failed, r.skipped, r.seconds, r.missing)
                     for r in runs.values()),
        failures=tuple(sched.failures), notices=notices,
        # Only folders that exist: a run that failed early may not have made them.
        outputs=tuple(d for d in prep.output_dirs if os.path.isdir(d)),
        seconds=time.monotonic() - t0, stopped_by=stopped_by,
        values=end.values, missing=end.missing, item_notices=tuple(sched.item_notices),
        item_notices_left_out=sched.item_notice_count - len(sched.item_notices))
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
            # The local pool starts with its first task: an up-to-date run starts none.
            ex = LazyExecutor(lambda kind=kind: new(kind, options)) if kind == "local" \
                else new(kind, options)
            ex.start(ExecutorOptions(
                workers=1 if kind == "serial" else pool_size,
                max_tasks_per_worker=options.max_tasks_per_worker,
                worker_memory_mb=options.worker_memory_mb, preload=PRELOAD,
                extra_paths=(os.path.dirname(os.path.abspath(workflow.path)),),
                scratch=spill_dir(workflow.workdir)))
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


def _cleanup(prep: Prepared, workflow: Workflow) -> None:
    """Remove spilled images and temporary files a killed worker may have left."""
    from runner.files.atomic import sweep_temp

    shutil.rmtree(spill_dir(workflow.workdir), ignore_errors=True)
    sweep_temp(prep.output_dirs)


def _sweep_spills(workflow: Workflow) -> None:
    """Remove the spill folders of earlier runs that were killed before their cleanup."""
    from runner.files.atomic import sweep_dead_spills

    sweep_dead_spills(os.path.dirname(spill_dir(workflow.workdir)))


def _journal_notices(session: Session) -> tuple[str, ...]:
    out = [session.notice] if session.notice else []
    if session.journal.broken:
        out.append(f"flow could not keep its record in .flow ({session.journal.broken}): "
                   "what it did not record runs again next time")
    return tuple(out)


def _chain(prep: Prepared, st: Stage, judge: Judge) -> StageChain:
    """A stage's chain; one judged item by item keeps its values (for the journal) instead
    of folding them into its reduce."""
    sc = prep.chains[st.id]
    if st.fold and judge.item_level(st):
        return replace(sc, chain=replace(sc.chain, fold=None))
    return sc


def _skipped_whole(r: StageRun) -> bool:
    """A map stage skipped as a whole: it passed nothing on."""
    return r.stage.kind == "map" and r.feed is not None and r.feed.whole is not None \
        and not r.feed.whole.run


def _width(ex: Executor, r: StageRun, prep: Prepared, options: RunOptions) -> int:
    """The workers a stage's tasks are cut for when it starts: on a cluster, its threads
    then (not this machine's CPUs), within the stage's ``workers`` and -j."""
    threads = ex.width()
    if threads is None or r.stage.mode == "serial":
        return r.workers
    return stage_workers(r.stage, options.jobs, prep.task_items(r.stage), cpus=threads)


def _feed(prep: Prepared, r: StageRun, runs: dict[str, StageRun], judge: Judge,
          workers: int) -> Feed:
    """The task feed of a stage whose sources are all finished, its tasks cut for
    ``workers`` at once."""
    st = r.stage
    r.workers = workers  # the summary shows what the stage ran on
    base: dict = dict(stage=st, sc=r.sc, resolver=prep.resolver, workers=r.workers,
                      chunksize=1)
    if judge.item_level(st):
        base.update(judge=judge, pass_on=bool(judge.consumers(st)))
    else:
        whole = judge.stage(st)
        blocked = ""
        if whole.run and any(_skipped_whole(runs[s]) for s in st.sources if s in runs):
            blocked = CHANGED
        elif whole.run and lacking(st, runs, failures=False):
            blocked = LEFT
        base.update(whole=whole, count=prep.root_count(st), blocked=blocked)
    if st.kind == "reduce":
        r.total = 1
        up = runs.get(st.sources[0])
        if st.folded and up is not None and up.sc.chain.fold is not None:
            return Feed(**base, partials=up.partials)
        if r.sc.fold_chain is not None:
            return _fold_feed(prep, r, base, runs)
        return Feed(**base, reduce_items=_upstream(prep, st, runs))
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
    # A tree's item is a whole decode and all its outputs: one a task keeps the workers'
    # last items even (a task's bookkeeping is nothing beside it).
    size = st.parallel.chunksize or (1 if st.branches else
                                     auto_chunksize(r.total or 0, r.workers, st.mode))
    return Feed(**{**base, "chunksize": size}, items=iter(_upstream(prep, st, runs)))


def _fold_feed(prep: Prepared, r: StageRun, base: dict, runs: dict[str, StageRun]) -> Feed:
    """The feed of a reduce that folds its inputs in chunks (a range as sub-ranges) of
    :data:`FOLD_CHUNK` items, whatever the workers: what the parent holds in flight
    stays small, and the chunks (so a float sum's last digits) are the same on any
    machine, with any -j."""
    srcs = [prep.sources[s] for s in r.stage.sources]
    size = r.stage.parallel.chunksize or FOLD_CHUNK
    base = {**base, "chunksize": size, "fold_chain": r.sc.fold_chain,
            "fold_count": prep.task_items(r.stage)}
    if len(srcs) == 1 and srcs[0].span is not None:
        return Feed(**base, span=srcs[0].span)
    return Feed(**base, items=_upstream(prep, r.stage, runs))


def _upstream(prep: Prepared, st: Stage, runs: dict[str, StageRun]) -> Iterator[Item]:
    return itertools.chain.from_iterable(
        prep.sources[s].items() if s in prep.sources else runs[s].outputs()
        for s in st.sources)
