"""What a Dask worker runs for flow: pickled tasks in, pickled results out.

:func:`run_on_worker` is the function flow submits, with one or more flow tasks (a
submission holds several when they are small, so that Dask's own cost per submission
stays a small share of the work). It keeps the submission's record on the worker's host
(:mod:`runner.execute.dask.records`) while the chains run, so the nanny's watcher can
name the item a dead worker held and end an item past its timeout, and it refuses a
scheduler's rerun of a submission whose worker died (:class:`DiedBefore`, the one
exception meant to reach Dask): flow decides what becomes of such tasks, not Dask. A task
flow cancelled stops before its next item.
"""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass

from runner.execute.dask.records import DiedBefore, TaskRecord

__all__ = ["DiedBefore", "Ticket", "run_on_worker"]


@dataclass(frozen=True)
class Ticket:
    """What travels with each submission besides its tasks."""

    run: str  # the run's id: the folder of its records on each host, the topic of its news
    key: str  # the Dask key of this submission
    marks: str | None  # a folder every worker sees (a rerun elsewhere is refused), or None
    paths: tuple[str, ...]  # sys.path entries (the workflow's folder, for py: steps)
    tasks: tuple[tuple[int, float | None], ...]  # (task id, its chain's timeout) of each


def run_on_worker(payloads: tuple[bytes, ...], ticket: Ticket) -> tuple[bytes, ...]:
    """Each pickled task in, its pickled TaskResult out (never raises but DiedBefore).

    ``ticket.paths`` go on ``sys.path`` here, per submission, so that workers which join
    later or replace dead ones have them too.
    """
    from runner.execute.chain import reason_of, run_task
    from runner.execute.wire import Unreadable, pack

    sys.path[:0] = [p for p in ticket.paths if p not in sys.path]
    marker = None if ticket.marks is None else os.path.join(ticket.marks, ticket.key)
    record = TaskRecord(ticket.run, ticket.key, marker, _wanted(ticket.key))
    out = []
    try:
        for payload, (task_id, limit) in zip(payloads, ticket.tasks, strict=True):
            # Before unpickling: a task whose unpickling kills its worker is named too.
            record.start(task_id, limit)
            try:
                task = pickle.loads(payload)
            except BaseException as exc:  # noqa: BLE001
                out.append(pickle.dumps(Unreadable(reason_of(exc))))
                continue
            out.append(pack(run_task(task, record), task))
    finally:
        record.returned()
    return tuple(out)


def _wanted(key: str) -> Callable[[], bool] | None:
    """Whether this worker still wants task ``key`` run (flow may have cancelled it since:
    Dask cannot stop a running task, so the task asks before each item)."""
    try:
        from distributed import get_worker

        tasks = get_worker().state.tasks
    except Exception:  # noqa: BLE001 - not in a Dask worker (a test), or an older Dask
        return None

    def wanted() -> bool:
        ts = tasks.get(key)
        return ts is not None and ts.state != "cancelled"

    return wanted
