"""What a worker does with a task: run the fused chain on each item.

The same code runs in a Pool worker, a Dask worker and, for ``mode: serial``,
the main process. It never raises: every failure becomes an
:class:`ItemFailure` with a one-line reason, because an exception crossing the
process boundary can kill a Pool's result thread (CPython gh-79492).

Two paths: a fast one that maps whole chunks through C-level ``map`` (no
per-item bookkeeping), used when no timeout needs per-item tracking; and a
careful one, item by item, that tells the tracker which item it is on and
isolates the failing item. The fast path falls back to the careful one on the
first exception, so a bad item costs time only in its own chunk.
"""

from __future__ import annotations

import os
import signal
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from functools import partial
from operator import is_not
from typing import Any, Protocol

from runner.execute import spill as big
from runner.execute.base import Chain, ChainStep, ItemFailure, Task, TaskResult
from steps.atomic import confined
from steps.registry import StepDef, StepNotice, resolve_ref, step_def, value_kinds

_not_none = partial(is_not, None)
_DROPPED = object()  # a filter step returned None
_fns: dict[str, tuple[Callable[..., Any], StepDef | None]] = {}


class Tracker(Protocol):
    """Where a worker says which item it is on (for timeouts and lost workers)."""

    def begin(self, task_id: int, offset: int) -> None: ...

    def done(self, count: int) -> None: ...


class _NoTracker:
    def begin(self, task_id: int, offset: int) -> None:
        pass

    def done(self, count: int) -> None:
        pass


def resolve(ref: str) -> tuple[Callable[..., Any], StepDef | None]:
    """The function behind ``ref`` and its StepDef, cached per process."""
    hit = _fns.get(ref)
    if hit is None:
        fn = resolve_ref(ref)
        hit = _fns[ref] = (fn, step_def(fn))
    return hit


def reason_of(exc: BaseException) -> str:
    """``Type: message`` on one line, whatever the exception does in ``__str__``."""
    name = type(exc).__name__
    try:
        text = str(exc)
    except BaseException:  # noqa: BLE001 - a broken __str__ must not break the run
        text = ""
    if isinstance(exc, MemoryError):
        return "out of memory"
    text = " ".join(text.split())
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{name}: {text}" if text else name


def _detail(exc: BaseException) -> str:
    try:
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except BaseException:  # noqa: BLE001
        return ""


def _reraise_interrupt(exc: BaseException) -> None:
    """Ctrl-C in flow's own process (``mode: serial``) ends the run, not the item.

    Workers ignore SIGINT, so there a KeyboardInterrupt can only come from a step
    itself and fails that item like any other exception.
    """
    if isinstance(exc, KeyboardInterrupt) and \
            signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        raise exc


class _StepFailed(Exception):
    def __init__(self, step: str, exc: BaseException, retries: int) -> None:
        super().__init__(step)
        self.step, self.exc, self.retries = step, exc, retries


def _call(cs: ChainStep, fn: Callable[..., Any], value: Any, args: dict[str, Any]) -> Any:
    """Call one step; any exception becomes a _StepFailed naming it."""
    try:
        return fn(value, **args)
    except BaseException as exc:  # noqa: BLE001 - any step error fails the item only
        _reraise_interrupt(exc)
        raise _StepFailed(cs.id, exc, cs.retries) from None


def _attempts(tr: Tracker, task_id: int, offset: int, run: Callable[[], Any]) -> Any:
    """Run one item's chain, again from its original value while retries remain.

    Re-running from the start (not just the failed step) retries an implicit
    open too, and never feeds a step the half-used object a failed call left.
    Returns the value, or raises _StepFailed with ``retries`` set to the attempts made.
    """
    attempt = 0
    while True:
        attempt += 1
        tr.begin(task_id, offset)  # each attempt gets the whole timeout
        try:
            return run()
        except _StepFailed as sf:
            if attempt > sf.retries:
                sf.retries = attempt
                raise


def _spiller(chain: Chain) -> Callable[[Any], Any]:
    """What a value leaving the worker becomes: nothing if no later stage needs it;
    the path of its spill file if a step module declares its kind (see
    ``steps.registry.ValueKind``); a note of where it waits if it is big
    (:mod:`runner.execute.spill`); else itself."""
    if not chain.returns:
        return _nothing
    folder = chain.spill_dir
    if not folder:
        return _same
    mods = tuple(sorted({cs.ref.partition(":")[0] for cs in chain.steps}))
    kinds = value_kinds(mods)

    def spill(value: Any) -> Any:
        for kind in kinds:
            if kind.holds(value):
                return kind.spill(value, folder)
        return big.spill(value, folder)

    return spill


def _same(value: Any) -> Any:
    return value


def _nothing(value: Any) -> None:
    return None


def run_task(task: Task, tracker: Tracker | None = None) -> TaskResult:
    """Run ``task``'s chain on its items; never raises.

    A step's ``StepNotice`` warnings come back as ``notes`` (each once per task),
    for the summary, instead of being printed by the worker. Files the steps write
    stay below ``chain.root`` (see :func:`steps.atomic.confined`). A process a step
    forks ends at the end of the task, quietly: only the caller gets the result.
    """
    t0, pid = time.perf_counter(), os.getpid()
    with warnings.catch_warnings(record=True) as caught, confined(task.chain.root):
        warnings.filterwarnings("always", category=StepNotice)
        result = _run(task, tracker or _NoTracker())
    if os.getpid() != pid:
        # A step forked, and this is its child carrying on as if it were the process
        # that runs the task: it must deliver nothing (nor, in flow's own process, go
        # on with the run).
        os._exit(0)
    notes = list(dict.fromkeys(str(w.message) for w in caught
                               if issubclass(w.category, StepNotice)))
    return TaskResult(result.task_id, result.values, result.partial, result.failures,
                      result.dropped, tuple(notes), time.perf_counter() - t0)


def _run(task: Task, tr: Tracker) -> TaskResult:
    chain = task.chain
    try:
        if task.partials is not None:
            result = _run_reduce_from_partials(task, tr)
        elif chain.timeout is None and not task.careful and _fast_ok(task):
            result = _run_fast(task, tr)
            if result is None:  # an item raised: find it, item by item
                result = _run_careful(task, tr)
        else:
            result = _run_careful(task, tr)
    except BaseException as exc:  # noqa: BLE001 - last line of defence: every item fails
        _reraise_interrupt(exc)
        reason, detail = f"internal error: {reason_of(exc)}", _detail(exc)
        offsets = [o for o, _, _ in task.items] if task.items is not None else \
            range(task.size())
        result = TaskResult(task.task_id, failures=tuple(
            ItemFailure(o, "?", reason, 1, detail) for o in offsets))
    return result


def _fast_ok(task: Task) -> bool:
    return all(cs.kind == "map" for cs in task.chain.steps) and not any(
        outs for _, _, outs in (task.items or ()))


def _values(task: Task, tr: Tracker) -> Iterable[Any]:
    if task.span is not None and all(cs.ref.startswith("steps.") for cs in task.chain.steps):
        # Numbers through built-in steps, which cannot kill a worker: no per-item
        # bookkeeping, which would cost more than the work itself.
        tr.begin(task.task_id, -1)
        return iter(task.span)
    return _tracked(task, tr)


def _tracked(task: Task, tr: Tracker) -> Iterator[Any]:
    # The chain pulls items one at a time through lazy maps, so the slot names the
    # item being worked on: a dead worker's culprit is known exactly.
    for offset, value, _ in _entries(task):
        tr.begin(task.task_id, offset)
        yield value


def _run_fast(task: Task, tr: Tracker) -> TaskResult | None:
    """Whole-chunk mapping; None if any item raised (caller goes careful)."""
    chain = task.chain
    stream: Iterable[Any] = _values(task, tr)
    try:
        for cs in chain.steps:
            fn, sd = resolve(cs.ref)
            args = dict(cs.args)
            if sd is not None and sd.batch is not None:
                stream = sd.batch(stream, **args)
            else:
                stream = map(partial(fn, **args), stream) if args else map(fn, stream)
            if sd is None or sd.drops:
                stream = filter(_not_none, stream)
        if chain.fold is not None:
            fn, sd = resolve(chain.fold.ref)
            assert sd is not None and sd.fold is not None
            part = sd.fold.partial(stream, **dict(chain.fold.args))
            return TaskResult(task.task_id, partial=part)
        if task.span is not None:
            out = list(stream)
            if len(out) != task.size():  # a filter dropped some: offsets must be exact
                return None
            if not chain.returns:  # nobody needs them later (and a span writes no file)
                return TaskResult(task.task_id)
            if all(cs.ref.startswith("steps.") for cs in chain.steps):
                return TaskResult(task.task_id, values=tuple(enumerate(out)))  # numbers
            spill = _spiller(chain)  # a py: step may make anything of a number
            return TaskResult(task.task_id, values=tuple((i, spill(v)) for i, v in
                                                         enumerate(out)))
        out = list(stream)
        if len(out) != task.size():
            return None  # a filter dropped items: the careful path keeps offsets right
        offsets = [o for o, _, _ in task.items or ()]
        spill = _spiller(chain)
        return TaskResult(task.task_id, values=tuple(
            (o, spill(v)) for o, v in zip(offsets, out, strict=True)))
    except BaseException as exc:  # noqa: BLE001 - retried item by item to isolate the culprit
        _reraise_interrupt(exc)
        return None


def _entries(task: Task) -> Iterable[tuple[int, Any, tuple]]:
    if task.span is not None:
        return ((i, v, ()) for i, v in enumerate(task.span))
    # A big value an earlier stage left on disk is read back as its item's turn comes.
    return ((o, big.restore(v), outs) for o, v, outs in task.items or ())


def _run_careful(task: Task, tr: Tracker) -> TaskResult:
    """Item by item: track each, isolate failures, honour reduces in the chain."""
    chain = task.chain
    resolved = [resolve(cs.ref) for cs in chain.steps]
    static = [dict(cs.args) for cs in chain.steps]
    first_reduce = next((i for i, cs in enumerate(chain.steps) if cs.kind == "reduce"),
                        len(chain.steps))
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
            value = _call(chain.steps[pos], resolved[pos][0], value, args)
            if value is None:
                return _DROPPED
        return value

    for offset, value, outs in _entries(task):
        try:
            out = _attempts(tr, task.task_id, offset, partial(through, value, outs))
        except _StepFailed as sf:
            failures.append(ItemFailure(offset, sf.step, reason_of(sf.exc), sf.retries,
                                        _detail(sf.exc)))
        else:
            if out is _DROPPED:
                dropped += 1
            else:
                survivors.append((offset, out))
        tr.done(1)
    if first_reduce < len(chain.steps):
        return _reduce_tail(task, tr, survivors, first_reduce, failures, dropped)
    if chain.fold is not None:
        _, sd = resolve(chain.fold.ref)
        assert sd is not None and sd.fold is not None
        part = sd.fold.partial((v for _, v in survivors), **dict(chain.fold.args))
        return TaskResult(task.task_id, partial=part, failures=tuple(failures), dropped=dropped)
    spill, values = _spiller(chain), []
    for o, v in survivors:
        try:
            values.append((o, spill(v)))
        except Exception as exc:  # noqa: BLE001 - e.g. a full disk: this item fails, with why
            failures.append(ItemFailure(o, chain.steps[-1].id, reason_of(exc), 1, _detail(exc)))
    return TaskResult(task.task_id, values=tuple(values), failures=tuple(failures),
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
            values = _attempts(tr, task.task_id, 0, partial(_call, cs, fn, arg, dict(cs.args)))
        except _StepFailed as sf:
            failures.append(ItemFailure(0, sf.step, reason_of(sf.exc), sf.retries,
                                        _detail(sf.exc)))
            return TaskResult(task.task_id, failures=tuple(failures), dropped=dropped)
        first = False
        if values is None:
            return TaskResult(task.task_id, failures=tuple(failures), dropped=dropped + 1)
    try:
        kept = _spiller(chain)(values)
    except Exception as exc:  # noqa: BLE001 - e.g. a full disk: the reduced item fails
        failures.append(ItemFailure(0, chain.steps[-1].id, reason_of(exc), 1, _detail(exc)))
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
        _reraise_interrupt(exc)
        return TaskResult(task.task_id, failures=(
            ItemFailure(0, head.id, reason_of(exc), 1, _detail(exc)),))
    rest = Task(task.stage, task.task_id, replace(chain, steps=chain.steps[1:], fold=None),
                items=((0, value, ()),))
    if not rest.chain.steps:
        return TaskResult(task.task_id, values=((0, value),))
    # Steps after the folded reduce see one item: reduces get [value].
    return _reduce_tail(rest, tr, [(0, value)], 0, [], 0) if rest.chain.steps[0].kind == "reduce" \
        else _run_careful(rest, tr)
