"""The chain runner's fast path: whole chunks through C-level ``map``.

No Python frame of flow's own per item where it can be helped. Two ways:

- :func:`streamed`, for chains of flow's own steps (pure functions) that cannot
  lose track of an item: numbers stream through the steps' ``batch`` functions
  straight into the fold or the result. On a failure it gives up (None) and the
  caller computes the chunk again item by item; with pure steps no one can tell.
- :func:`exact`, for everything else: the maps pull one item at a time and a cell
  says which item is in them, so after a failure every earlier item is finished
  (its value kept, or dropped as recorded), the failing item has had one attempt
  at the step its traceback names, and only the later items are left to the
  careful path. No step ever sees an item twice but for its retries.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import compress, filterfalse
from operator import is_, is_not
from typing import Any

from runner.execute.base import Chain, ItemFailure, Task, TaskResult
from runner.execute.calls import (
    Tracker,
    detail,
    entries,
    fold_partial,
    reason_of,
    reraise_interrupt,
    resolve,
    spiller,
)

_not_none = partial(is_not, None)
_is_none = partial(is_, None)


def builtin(chain: Chain) -> bool:
    """Every step (and the fold) is one of flow's own, pure functions of their input."""
    refs = [cs.ref for cs in chain.steps] + ([chain.fold.ref] if chain.fold else [])
    return all(ref.startswith("steps.") for ref in refs)


def streamable(chain: Chain) -> bool:
    """Can :func:`streamed` run this chain: pure steps, and either a fold (which needs
    no offsets) or no step that can drop an item (so offsets stay in step)."""
    if not builtin(chain):
        return False
    return chain.fold is not None or not any(
        sd is None or sd.drops for sd in (resolve(cs.ref)[1] for cs in chain.steps))


def tracked(task: Task, tr: Tracker, at: list[int]) -> Iterator[Any]:
    """The task's values one at a time; ``at[0]`` and the tracker name the current one.

    The chain pulls items one at a time through lazy maps, so the slot names the
    item being worked on: a dead worker's culprit is known exactly.
    """
    begin, task_id = tr.begin, task.task_id
    if task.span is not None:
        for offset, value in enumerate(task.span):
            at[0] = offset
            begin(task_id, offset)
            yield value
        return
    for offset, value, _ in task.items or ():
        at[0] = offset
        begin(task_id, offset)
        yield value


def _values(task: Task, tr: Tracker) -> Iterable[Any]:
    if task.span is not None:
        # Numbers through built-in steps, which cannot kill a worker: no per-item
        # bookkeeping, which would cost more than the work itself.
        tr.begin(task.task_id, -1)
        return iter(task.span)
    return tracked(task, tr, [-1])


def streamed(task: Task, tr: Tracker) -> TaskResult | None:
    """Whole-chunk mapping with the steps' batches; None if any item raised."""
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
            return TaskResult(task.task_id, partial=fold_partial(chain, stream))
        out = list(stream)  # no step can drop: one value per item, in order
        spill = spiller(chain)
        offsets = [o for o, _, _ in entries(task)]
        return TaskResult(task.task_id, values=tuple(
            (o, spill(v)) for o, v in zip(offsets, out, strict=True)))
    except BaseException as exc:  # noqa: BLE001 - the caller goes item by item
        reraise_interrupt(exc)
        return None


@dataclass
class Exact:
    """What :func:`exact` got through, and what it leaves to the careful path."""

    offsets: Sequence[int] = ()  # the offsets of ``values``, in order
    values: list[Any] = field(default_factory=list)  # what came out of the chain
    failures: list[ItemFailure] = field(default_factory=list)
    dropped: int = 0
    rest: list[tuple[int, Any, tuple]] = field(default_factory=list)  # still to run
    used: dict[int, int] = field(default_factory=dict)  # offset -> attempts already had


def step_codes(chain: Chain) -> dict[Any, int] | None:
    """Code object -> chain position, to name the step a traceback failed in; None
    when a step is no plain Python function or two steps share one."""
    codes: dict[Any, int] = {}
    for pos, cs in enumerate(chain.steps):
        code = getattr(resolve(cs.ref)[0], "__code__", None)
        if code is None or code in codes:
            return None
        codes[code] = pos
    return codes


def exact(task: Task, tr: Tracker, codes: dict[Any, int]) -> Exact:
    """Map the chunk until an item raises; see the module docstring."""
    chain = task.chain
    at = [-1]
    dropped: set[int] = set()

    def keep(value: Any) -> bool:
        if value is None:
            dropped.add(at[0])
            return False
        return True

    stream: Iterable[Any] = tracked(task, tr, at)
    last_drops = False
    for pos, cs in enumerate(chain.steps):
        fn, sd = resolve(cs.ref)
        stream = map(partial(fn, **dict(cs.args)), stream) if cs.args else map(fn, stream)
        last_drops = sd is None or sd.drops
        if last_drops and pos < len(chain.steps) - 1:  # the next step must not see None
            stream = filter(keep, stream)
    got = Exact()
    offsets: Sequence[int] = range(task.size()) if task.span is not None else \
        [o for o, _, _ in task.items or ()]
    out = got.values
    try:
        out.extend(stream)  # on an exception, what came out before it stays in ``out``
    except BaseException as exc:  # noqa: BLE001 - the current item failed, at one step
        reraise_interrupt(exc)
        items = list(entries(task))
        finished = offsets.index(at[0])
        cs = chain.steps[_culprit(exc, codes)]
        if cs.retries:  # its retries go on item by item, this call counted
            got.rest.append(items[finished])
            got.used[at[0]] = 1
        else:
            got.failures.append(ItemFailure(at[0], cs.id, reason_of(exc), 1, detail(exc)))
        got.rest.extend(items[finished + 1:])
        offsets = offsets[:finished]
    if dropped:
        offsets = list(filterfalse(dropped.__contains__, offsets))
    got.dropped = len(dropped)
    if last_drops and any(map(_is_none, out)):  # the last step dropped some: they stay None
        kept = list(map(_not_none, out))
        got.dropped += kept.count(False)
        offsets, got.values = list(compress(offsets, kept)), list(compress(out, kept))
    got.offsets = offsets
    return got


def _culprit(exc: BaseException, codes: dict[Any, int]) -> int:
    """The chain position of the step whose frame is outermost in the traceback."""
    tb = exc.__traceback__
    while tb is not None:
        pos = codes.get(tb.tb_frame.f_code)
        if pos is not None:
            return pos
        tb = tb.tb_next
    return 0  # raised before any step ran (cannot happen with plain functions)
