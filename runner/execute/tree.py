"""A tree of steps on a task's items: the trunk once per item, then every branch on it.

Several branches that start from the same value (three sizes of one photo, a
thumbnail and a measure) share one decode: the trunk (often just the implicit
open) runs once per item, the chain's ``share`` step readies its value for all
branches (for an image: decoded once, at the largest scale any branch needs),
and each branch runs on that value with its own attempts and failures. One
branch failing an item does not stop the others: their outputs for it are made,
and the item is reported failed once, naming the branches that failed.

Items go one by one (the careful way): a tree is for work where one item costs
far more than flow's bookkeeping of it.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from runner.execute.base import Chain, ChainStep, ItemFailure, Task, TaskResult
from runner.execute.calls import (
    StepFailed,
    Tracker,
    attempts,
    call,
    detail,
    entries,
    reason_of,
    resolve,
    spiller,
)

_DROPPED = object()  # a filter step returned None


def spans(chain: Chain) -> list[tuple[int, int]]:
    """``(start, stop)`` positions in ``chain.steps`` of the trunk, then of each branch."""
    bounds = [0, *chain.branches, len(chain.steps)]
    return list(zip(bounds, bounds[1:], strict=False))


def run_tree(task: Task, tr: Tracker) -> TaskResult:
    """Run ``task``'s tree on each item; an item's value is its branches' values."""
    chain = task.chain
    parts = spans(chain)
    resolved = [resolve(cs.ref)[0] for cs in chain.steps]
    share = resolve(chain.share.ref)[0] if chain.share is not None else None
    spill = spiller(chain)
    values: list[tuple[int, Any]] = []
    failures: list[ItemFailure] = []
    dropped = 0

    def through(value: Any, outs: tuple, start: int, stop: int) -> Any:
        for pos in range(start, stop):
            args = dict(chain.steps[pos].args)
            args.update({name: path for p, name, path in outs if p == pos})
            value = call(chain.steps[pos], resolved[pos], value, args)
            if value is None:
                return _DROPPED
        return value

    every = tuple(range(len(parts) - 1))
    only = dict(task.only)

    def trunk(value: Any, outs: tuple, todo: tuple[int, ...]) -> Any:
        value = through(value, outs, *parts[0])
        if share is not None and value is not _DROPPED:
            value = _shared(chain.share, share, value, todo)
        return value

    for offset, value, outs in entries(task):
        todo = only.get(offset, every)  # the branches whose outputs are not up to date
        try:
            base = attempts(tr, task.task_id, offset, partial(trunk, value, outs, todo))
        except StepFailed as sf:
            failures.append(_failure(offset, [sf], todo))
            tr.done(1)
            continue
        if base is _DROPPED:
            dropped += 1
            tr.done(1)
            continue
        got: list[Any] = [None] * len(every)
        failed: list[tuple[int, StepFailed]] = []
        for k, n in enumerate(todo):
            start, stop = parts[n + 1]
            # Heads done by the share step: each branch goes on from its own value.
            start, head = (start + 1, base[k]) if chain.share_heads else (start, base)
            try:
                out = attempts(tr, task.task_id, offset, partial(through, head, outs, start, stop))
            except StepFailed as sf:
                failed.append((n, sf))
                out = None
            got[n] = None if out is _DROPPED else out
        if failed:
            failures.append(_failure(offset, [sf for _, sf in failed], tuple(n for n, _ in failed)))
        else:
            values.append((offset, tuple(spill(v) for v in got)))
        tr.done(1)
    return TaskResult(task.task_id, values=tuple(values), failures=tuple(failures),
                      dropped=dropped)


def _shared(cs: ChainStep, fn: Any, value: Any, todo: tuple[int, ...]) -> Any:
    """The share step for the branches in ``todo`` only: a decode drafted to what they
    need, and (``share_heads``) their first steps' values, in ``todo``'s order."""
    args = dict(cs.args)
    heads = args.get("heads", ())
    if len(todo) < len(heads):
        args["heads"] = tuple(heads[n] for n in todo)
    return call(cs, fn, value, args)


def _failure(offset: int, failed: list[StepFailed], branches: tuple[int, ...]) -> ItemFailure:
    """One failure per item (the scheduler counts items): the first branch's reason,
    and the other failing branches named after it; ``branches``: those that failed."""
    first = failed[0]
    reason = reason_of(first.exc)
    if len(failed) > 1:
        reason += f" (and in {', '.join(sf.step for sf in failed[1:])})"
    return ItemFailure(offset, first.step, reason, first.retries, detail(first.exc), branches)
