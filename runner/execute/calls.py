"""Calling steps inside a worker: finding them, attempts and retries, failures in one line.

Shared by both paths of the chain runner (:mod:`runner.execute.chain`, the careful
one, and :mod:`runner.execute.fastmap`, the fast one): how a ``module:qualname``
becomes a function, how a step's exception becomes a one-line reason that names
it, how an item is attempted ``1 + retries`` times, and what a value leaving the
worker becomes.
"""

from __future__ import annotations

import signal
import traceback
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from runner.execute import spill as big
from runner.execute.base import Chain, ChainStep, Task
from steps.registry import StepDef, resolve_ref, step_def, value_kinds

_fns: dict[str, tuple[Callable[..., Any], StepDef | None]] = {}


class Tracker(Protocol):
    """Where a worker says which item it is on (for timeouts and lost workers)."""

    def begin(self, task_id: int, offset: int) -> None: ...

    def done(self, count: int) -> None: ...


class NoTracker:
    """A tracker that tracks nothing (no timeout, no one watching)."""

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


def detail(exc: BaseException) -> str:
    """The traceback's text, for ``--verbose`` and the report ("" if it cannot be had)."""
    try:
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except BaseException:  # noqa: BLE001
        return ""


def reraise_interrupt(exc: BaseException) -> None:
    """Ctrl-C in flow's own process (``mode: serial``) ends the run, not the item.

    Workers ignore SIGINT, so there a KeyboardInterrupt can only come from a step
    itself and fails that item like any other exception.
    """
    if isinstance(exc, KeyboardInterrupt) and \
            signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        raise exc


class StepFailed(Exception):
    """A step raised: which step, the exception, and its retries (then attempts made)."""

    def __init__(self, step: str, exc: BaseException, retries: int) -> None:
        super().__init__(step)
        self.step, self.exc, self.retries = step, exc, retries


def call(cs: ChainStep, fn: Callable[..., Any], value: Any, args: dict[str, Any]) -> Any:
    """Call one step; any exception becomes a StepFailed naming it."""
    try:
        return fn(value, **args)
    except BaseException as exc:  # noqa: BLE001 - any step error fails the item only
        reraise_interrupt(exc)
        raise StepFailed(cs.id, exc, cs.retries) from None


def attempts(tr: Tracker, task_id: int, offset: int, run: Callable[[], Any],
             used: int = 0) -> Any:
    """Run one item's chain, again from its original value while retries remain.

    Re-running from the start (not just the failed step) retries an implicit
    open too, and never feeds a step the half-used object a failed call left.
    ``used``: attempts the item already had (a failed call on the fast path).
    Returns the value, or raises StepFailed with ``retries`` set to the attempts made.
    """
    attempt = used
    while True:
        attempt += 1
        tr.begin(task_id, offset)  # each attempt gets the whole timeout
        try:
            return run()
        except StepFailed as sf:
            if attempt > sf.retries:
                sf.retries = attempt
                raise


def entries(task: Task) -> Iterable[tuple[int, Any, tuple]]:
    """``(offset, value, outs)`` of each item of a task, in order."""
    if task.span is not None:
        return ((i, v, ()) for i, v in enumerate(task.span))
    # A big value an earlier stage left on disk is read back as its item's turn comes.
    return ((o, big.restore(v), outs) for o, v, outs in task.items or ())


def fold_partial(chain: Chain, values: Iterable[Any]) -> Any:
    """The chain's downstream reduce, folded over this chunk's values."""
    assert chain.fold is not None
    _, sd = resolve(chain.fold.ref)
    assert sd is not None and sd.fold is not None
    return sd.fold.partial(values, **dict(chain.fold.args))


def spiller(chain: Chain) -> Callable[[Any], Any]:
    """What a value leaving the worker becomes: the path of its spill file if a step
    module declares its kind (see ``steps.registry.ValueKind``); a note of where it
    waits if it is big (:mod:`runner.execute.spill`); else itself."""
    folder = chain.spill_dir
    if not folder:
        return _same
    refs = tuple(sorted({cs.ref for cs in chain.steps}))
    kinds = value_kinds(refs)

    def spill(value: Any) -> Any:
        for kind in kinds:
            if kind.holds(value):
                return kind.spill(value, folder)
        return big.spill(value, folder)

    return spill


def _same(value: Any) -> Any:
    return value
