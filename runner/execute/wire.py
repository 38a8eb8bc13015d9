"""How tasks and results cross a process boundary, for every executor with workers.

A worker sends its :class:`TaskResult` back pickled by :func:`pack`, after making
sure it can be read back: a value that cannot travel fails its own item instead
of killing the pool's (or Dask's) result handling (CPython gh-79492). The parent
reads it with :func:`unpack`; anything unreadable fails the task's items with a
reason, never the run.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

from runner.execute.base import ItemFailure, Task, TaskResult
from runner.execute.chain import reason_of

# Results up to this size are unpickled once in the worker as a check (well under
# a millisecond); bigger ones are checked by the parent, which fails the whole task
# if one cannot be read back.
VERIFY_BYTES = 64 * 1024

@dataclass(frozen=True)
class Unreadable:
    """What a worker sends back for a task it could not unpickle."""

    reason: str


def pack(result: TaskResult, task: Task) -> bytes:
    """``result`` pickled; a value that cannot travel becomes that item's failure."""
    try:
        data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        if len(data) <= VERIFY_BYTES:
            pickle.loads(data)
        return data
    except BaseException:  # noqa: BLE001 - find the culprits one by one below
        pass
    last = task.chain.steps[-1].id if task.chain.steps else "?"
    values, failures = [], list(result.failures)
    for offset, value in result.values:
        problem = _travel_problem(value)
        if problem is None:
            values.append((offset, value))
        else:
            failures.append(ItemFailure(offset, last, f"result cannot be sent back: {problem}"))
    partial = result.partial
    if partial is not None and (problem := _travel_problem(partial)) is not None:
        fold = task.chain.fold.id if task.chain.fold is not None else last
        failures.append(ItemFailure(0, fold, f"result cannot be sent back: {problem}"))
        partial = None
    clean = TaskResult(result.task_id, tuple(values), partial,
                       tuple(_plain_failure(f) for f in failures), result.dropped,
                       tuple(str(n) for n in result.notes), result.seconds,
                       tuple((int(o), str(t)) for o, t in result.output))
    try:
        return pickle.dumps(clean, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:  # noqa: BLE001
        return pickle.dumps(TaskResult(result.task_id, failures=(ItemFailure(
            0, last, f"result cannot be sent back: {reason_of(exc)}"),)))


def _travel_problem(value: Any) -> str | None:
    """Why ``value`` cannot be pickled and read back, or None if it can."""
    try:
        pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        return None
    except BaseException as exc:  # noqa: BLE001
        return reason_of(exc)


def _plain_failure(f: ItemFailure) -> ItemFailure:
    return ItemFailure(int(f.offset), str(f.step), str(f.reason), int(f.attempts), str(f.detail),
                       tuple(int(n) for n in f.branches))


def unpack(payload: bytes, task: Task) -> TaskResult:
    """The TaskResult a worker pickled; if it cannot be read here, every item fails."""
    try:
        result = pickle.loads(payload)
        if isinstance(result, TaskResult):
            return result
        if isinstance(result, Unreadable):
            return fail_all(task, f"task could not be read by a worker: {result.reason}")
        return fail_all(task, f"worker sent back {type(result).__name__}, not a result")
    except BaseException as exc:  # noqa: BLE001
        return fail_all(task, f"result could not be read back: {reason_of(exc)}")


def fail_all(task: Task, reason: str) -> TaskResult:
    """A result in which every item of ``task`` failed for ``reason``."""
    step = task.chain.steps[-1].id if task.chain.steps else "?"
    if task.items is not None:
        offsets: Any = [o for o, _, _ in task.items]
    elif task.span is not None:
        offsets = range(task.span.count)
    else:
        offsets = [0]
    return TaskResult(task.task_id, failures=tuple(ItemFailure(o, step, reason) for o in offsets))

