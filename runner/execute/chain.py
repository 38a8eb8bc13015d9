"""What a worker does with a task: run the fused chain on each item.

The same code runs in a Pool worker, a Dask worker and, for ``mode: serial``,
the main process. It never raises: every failure becomes an
:class:`ItemFailure` with a one-line reason, because an exception crossing the
process boundary can kill a Pool's result thread (CPython gh-79492).

Two paths: a fast one that maps whole chunks through C-level ``map`` (no
per-item bookkeeping), used when no timeout needs per-item tracking; and a
careful one, item by item, that tells the tracker which item it is on and
isolates the failing item.

Whatever the path, a step runs at most ``1 + retries`` times on an item. When
an item fails or is dropped inside a fast chunk, the items before it keep their
values, the failed call counts as the item's first attempt, and only the items
after it go on item by item. One exception: a chain made only of flow's own
steps, which are pure functions, may be computed again item by item after a
failure (so their own messages name the failure); nobody can tell the difference.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import replace
from functools import partial
from typing import Any

from runner.execute import fastmap
from runner.execute.base import Chain, ItemFailure, Task, TaskResult
from runner.execute.calls import (
    NoTracker,
    StepFailed,
    Tracker,
    attempts,
    call,
    detail,
    entries,
    fold_partial,
    reason_of,
    reraise_interrupt,
    resolve,
    spiller,
)
from runner.execute.capture import Capture
from runner.execute.tree import run_tree
from steps.atomic import confined

__all__ = ["Tracker", "reason_of", "resolve", "run_task"]

_DROPPED = object()  # a filter step returned None


def run_task(task: Task, tracker: Tracker | None = None) -> TaskResult:
    """Run ``task``'s chain on its items; never raises.

    A step's ``StepNotice`` warnings come back as ``notes`` (each once per task),
    for the summary; whatever else the items write or warn comes back as ``output``,
    item by item (see :mod:`runner.execute.capture`), instead of reaching the screen.
    Files the steps write stay below ``chain.root`` (see :func:`steps.atomic.confined`).
    A process a step forks ends at the end of the task, quietly: only the caller gets
    the result.
    """
    t0, pid = time.perf_counter(), os.getpid()
    with Capture(tracker or NoTracker()) as capture, confined(task.chain.root):
        result = _run(task, capture)
    if os.getpid() != pid:
        # A step forked, and this is its child carrying on as if it were the process
        # that runs the task: it must deliver nothing (nor, in flow's own process, go
        # on with the run).
        os._exit(0)
    return TaskResult(result.task_id, result.values, result.partial, result.failures,
                      result.dropped, tuple(capture.notes), time.perf_counter() - t0,
                      capture.output)


def _run(task: Task, tr: Tracker) -> TaskResult:
    chain = task.chain
    try:
        if chain.branches:
            result = run_tree(task, tr)
        elif task.partials is not None:
            result = _run_reduce_from_partials(task, tr)
        elif chain.timeout is None and not task.careful and _fast_ok(task):
            result = _run_fast(task, tr)
        else:
            result = _run_careful(task, tr)
    except BaseException as exc:  # noqa: BLE001 - last line of defence: every item fails
        reraise_interrupt(exc)
        reason, text = f"internal error: {reason_of(exc)}", detail(exc)
        offsets = [o for o, _, _ in task.items] if task.items is not None else \
            range(task.size())
        result = TaskResult(task.task_id, failures=tuple(
            ItemFailure(o, "?", reason, 1, text) for o in offsets))
    return result


def _fast_ok(task: Task) -> bool:
    return all(cs.kind == "map" for cs in task.chain.steps) and not any(
        outs for _, _, outs in (task.items or ()))


def _run_fast(task: Task, tr: Tracker) -> TaskResult:
    """Whole chunks through C-level ``map`` (:mod:`runner.execute.fastmap`)."""
    if fastmap.streamable(task.chain):
        # flow's own pure steps: after a failure, the chunk again item by item.
        result = fastmap.streamed(task, tr)
        return result if result is not None else _run_careful(task, tr)
    codes = fastmap.step_codes(task.chain)
    if codes is None:  # a step we cannot name from a traceback: item by item
        return _run_careful(task, tr)
    got = fastmap.exact(task, tr, codes)
    if not got.rest:
        return _map_result(task, got.offsets, got.values, got.failures, got.dropped)
    more, failures, dropped = _careful_items(task, tr, got.rest, got.used)
    return _map_result(task, [*got.offsets, *(o for o, _ in more)],
                       [*got.values, *(v for _, v in more)], got.failures + failures,
                       got.dropped + dropped)


def _careful_items(task: Task, tr: Tracker, items: Iterable[tuple[int, Any, tuple]],
                   used: dict[int, int] | None = None,
                   ) -> tuple[list[tuple[int, Any]], list[ItemFailure], int]:
    """Item by item through the chain's map steps (up to its first reduce):
    ``(survivors, failures, dropped)``; ``used`` gives attempts items already had."""
    chain = task.chain
    resolved = [resolve(cs.ref) for cs in chain.steps]
    static = [dict(cs.args) for cs in chain.steps]
    first_reduce = _first_reduce(chain)
    survivors: list[tuple[int, Any]] = []
    failures: list[ItemFailure] = []
    dropped = 0

    def through(value: Any, outs: tuple) -> Any:
        for pos in range(first_reduce):
            args = static[pos]
            if outs:
                extra = {name: path for p, name, path in outs if p == pos}
                if extra:
                    args = {**args, **extra}
            value = call(chain.steps[pos], resolved[pos][0], value, args)
            if value is None:
                return _DROPPED
        return value

    for offset, value, outs in items:
        try:
            out = attempts(tr, task.task_id, offset, partial(through, value, outs),
                            used.get(offset, 0) if used else 0)
        except StepFailed as sf:
            failures.append(ItemFailure(offset, sf.step, reason_of(sf.exc), sf.retries,
                                        detail(sf.exc)))
        else:
            if out is _DROPPED:
                dropped += 1
            else:
                survivors.append((offset, out))
        tr.done(1)
    return survivors, failures, dropped


def _first_reduce(chain: Chain) -> int:
    return next((i for i, cs in enumerate(chain.steps) if cs.kind == "reduce"),
                len(chain.steps))


def _run_careful(task: Task, tr: Tracker) -> TaskResult:
    """Item by item: track each, isolate failures, honour reduces in the chain."""
    survivors, failures, dropped = _careful_items(task, tr, entries(task))
    first_reduce = _first_reduce(task.chain)
    if first_reduce < len(task.chain.steps):
        return _reduce_tail(task, tr, survivors, first_reduce, failures, dropped)
    return _map_result(task, [o for o, _ in survivors], [v for _, v in survivors], failures,
                       dropped)


def _map_result(task: Task, offsets: Iterable[int], values: Iterable[Any],
                failures: list[ItemFailure], dropped: int) -> TaskResult:
    """A chunk's values by offset (spilled where need be), or its fold partial."""
    chain = task.chain
    if chain.fold is not None:
        offsets = list(offsets)
        try:
            part = fold_partial(chain, values)
        except Exception as exc:  # noqa: BLE001 - a value the reduce cannot take: said by it
            reason, text = reason_of(exc), detail(exc)
            failures += [ItemFailure(o, chain.fold.id, reason, 1, text) for o in offsets]
            return TaskResult(task.task_id, failures=tuple(failures), dropped=dropped)
        return TaskResult(task.task_id, partial=part, failures=tuple(failures), dropped=dropped)
    if not chain.spill_dir:
        return TaskResult(task.task_id, values=tuple(zip(offsets, values, strict=True)),
                          failures=tuple(failures), dropped=dropped)
    spill, kept = spiller(chain), []
    for o, v in zip(offsets, values, strict=True):
        try:
            kept.append((o, spill(v)))
        except Exception as exc:  # noqa: BLE001 - e.g. a full disk: this item fails, with why
            failures.append(ItemFailure(o, chain.steps[-1].id, reason_of(exc), 1, detail(exc)))
    return TaskResult(task.task_id, values=tuple(kept), failures=tuple(failures),
                      dropped=dropped)


def _reduce_tail(task: Task, tr: Tracker, survivors: list[tuple[int, Any]], start: int,
                 failures: list[ItemFailure], dropped: int) -> TaskResult:
    """From the first reduce on, the chain works on one item: the reduced value."""
    chain = task.chain
    values: Any = [v for _, v in survivors]
    first = True
    for cs in chain.steps[start:]:
        fn, _ = resolve(cs.ref)
        arg = values if (cs.kind == "reduce" and first) else (
            [values] if cs.kind == "reduce" else values)
        try:
            values = attempts(tr, task.task_id, 0, partial(call, cs, fn, arg, dict(cs.args)))
        except StepFailed as sf:
            failures.append(ItemFailure(0, sf.step, reason_of(sf.exc), sf.retries,
                                        detail(sf.exc)))
            return TaskResult(task.task_id, failures=tuple(failures), dropped=dropped)
        first = False
        if values is None:
            return TaskResult(task.task_id, failures=tuple(failures), dropped=dropped + 1)
    try:
        kept = spiller(chain)(values)
    except Exception as exc:  # noqa: BLE001 - e.g. a full disk: the reduced item fails
        failures.append(ItemFailure(0, chain.steps[-1].id, reason_of(exc), 1, detail(exc)))
        return TaskResult(task.task_id, failures=tuple(failures), dropped=dropped)
    return TaskResult(task.task_id, values=((0, kept),), failures=tuple(failures),
                      dropped=dropped)


def _run_reduce_from_partials(task: Task, tr: Tracker) -> TaskResult:
    """Finish a folded reduce from its partials, then run the rest of the chain."""
    chain = task.chain
    head = chain.steps[0]
    tr.begin(task.task_id, 0)
    _, sd = resolve(head.ref)
    assert sd is not None and sd.fold is not None
    args = dict(head.args)
    try:
        value = sd.fold.finish(sd.fold.combine(list(task.partials or ()), **args), **args)
    except BaseException as exc:  # noqa: BLE001
        reraise_interrupt(exc)
        return TaskResult(task.task_id, failures=(
            ItemFailure(0, head.id, reason_of(exc), 1, detail(exc)),))
    rest = Task(task.stage, task.task_id, replace(chain, steps=chain.steps[1:], fold=None),
                items=((0, value, ()),))
    if not rest.chain.steps:
        return TaskResult(task.task_id, values=((0, value),))
    # Steps after the folded reduce see one item: reduces get [value].
    return _reduce_tail(rest, tr, [(0, value)], 0, [], 0) if rest.chain.steps[0].kind == "reduce" \
        else _run_careful(rest, tr)
