"""Turning a stage's items into tasks: chains, chunks and per-item outputs.

The scheduler asks a :class:`Feed` for the next task whenever a worker can
take one, so a stage's items are read lazily and the parent holds only the
tasks in flight. A range input is shipped as sub-ranges, never as items.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from runner.execute.base import Task
from runner.execute.span import Span
from runner.files.inputs import Item
from runner.files.journal import State
from runner.files.outputs import Resolver
from runner.plan import Stage
from runner.run.chains import StageChain, item_outs


def auto_chunksize(count: int, workers: int, mode: str) -> int:
    """Chunks small enough to balance two cores, large enough to amortise IPC."""
    if mode == "async":
        return 1
    return max(1, min(64, math.ceil(count / max(1, workers * 16))))


@dataclass
class Feed:
    """Hands out a stage's tasks one at a time; remembers what each task holds."""

    stage: Stage
    sc: StageChain
    resolver: Resolver
    workers: int
    chunksize: int
    items: Iterator[Item] | None = None  # item-by-item sources
    span: Span | None = None  # a range input, shipped as sub-ranges
    partials: list[Any] | None = None  # a folded reduce: the upstream partials
    reduce_items: list[Item] | None = None  # a reduce: every upstream item in one task
    state: State | None = None  # skip up-to-date items when set
    skipped: list[Item] = field(default_factory=list)  # skipped since last asked, with values
    next_id: Iterator[int] = field(default_factory=lambda: iter(range(1, 1 << 62)))
    _span_pos: int = 0
    exhausted: bool = False

    def next_task(self) -> tuple[Task, list[Item] | int] | None:
        """The next task and what it holds (its Items, or the span's first index)."""
        if self.exhausted:
            return None
        stage_id, chain = self.stage.id, self.sc.chain
        if self.partials is not None:
            self.exhausted = True
            return Task(stage_id, next(self.next_id), chain, partials=tuple(self.partials)), []
        if self.reduce_items is not None:
            self.exhausted = True
            its = self.reduce_items
            task = Task(stage_id, next(self.next_id), chain,
                        items=tuple((i, it.value, ()) for i, it in enumerate(its)))
            return task, its
        if self.span is not None:
            return self._next_span()
        assert self.items is not None
        batch: list[Item] = []
        entries: list[tuple[int, Any, tuple]] = []
        skip = self.state if self.sc.skippable else None
        for it in self.items:
            outs = item_outs(self.sc, it, self.resolver)
            if skip is not None and skip.fresh(it.source, (p for _, _, p in outs), self.sc.sig):
                self.skipped.append(Item(it.index, outs[-1][2], it.source, it.root))
                continue
            entries.append((len(batch), it.value, outs))
            batch.append(it)
            if len(batch) >= self.chunksize:
                break
        if not batch:
            self.exhausted = True
            return None
        return Task(stage_id, next(self.next_id), chain, items=tuple(entries)), batch

    def _next_span(self) -> tuple[Task, int] | None:
        assert self.span is not None
        if self._span_pos >= self.span.count:
            self.exhausted = True
            return None
        first = self._span_pos
        self._span_pos = last = min(self.span.count, first + self.chunksize)
        return Task(self.stage.id, next(self.next_id), self.sc.chain,
                    span=self.span.sub(first, last)), first


def retry_task(task: Task, keep: list[int], next_id: int) -> Task:
    """A careful copy of ``task`` holding only the items at offsets ``keep``."""
    wanted = set(keep)
    if task.span is not None:  # offsets stay those of the span, so results map back
        entries = tuple((o, v, ()) for o, v in enumerate(task.span) if o in wanted)
        return Task(task.stage, next_id, task.chain, items=entries, careful=True)
    if task.items is not None:
        kept = tuple(e for e in task.items if e[0] in wanted)
        return Task(task.stage, next_id, task.chain, items=kept, careful=True)
    return Task(task.stage, next_id, task.chain, partials=task.partials, careful=True)
