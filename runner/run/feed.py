"""Turning a stage's items into tasks: chains, chunks and per-item outputs.

The scheduler asks a :class:`Feed` for the next task whenever a worker can
take one, so a stage's items are read lazily and the parent holds only the
tasks in flight. A range input is shipped as sub-ranges, never as items.
A foldable reduce fed by inputs is fed the same way: its input goes out in
chunks that the workers fold, then one task finishes the reduce from their
partials; any other reduce gets one task of its values (and only those).
With a :class:`~runner.run.uptodate.Judge`, items that are up to date are
skipped on the way (a window of items judged with one journal query), their
kept values passed on; a stage judged as a whole is skipped whole.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any

from runner.execute.base import Chain, ItemFailure, Task, TaskResult
from runner.execute.span import Span
from runner.files.inputs import Item
from runner.files.outputs import Resolver
from runner.plan import Stage
from runner.run.chains import StageChain, item_outs
from runner.run.uptodate import NOT_NEEDED, UP_TO_DATE, Judge, Key, Verdict

WINDOW = 256  # items judged per journal query
CHANGED = ("inputs changed while the run went on (a file or an output touched meanwhile): "
           "run flow again to redo what they feed")
LEFT = "not run: it takes items that --only-failed left out (a full run makes it)"
LEFT_ITEMS = "left for a full run: they did not fail last time (--only-failed)"


def auto_chunksize(count: int, workers: int, mode: str) -> int:
    """Chunks small enough to balance two cores, large enough to amortise IPC."""
    if mode == "async":
        return 1
    return max(1, min(64, math.ceil(count / max(1, workers * 16))))


class Chunk(list):
    """A chunk of a reduce's input that the workers fold: its Items, and where it starts
    among all the input's items (inputs concatenated), which orders its partial."""

    at: int


class Batch(list):
    """A task's items (the scheduler finds them by offset) and their journal keys."""

    keys: list[Key]


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
    reduce_items: Iterator[Item] | None = None  # a reduce: every upstream item in one task
    fold_chain: Chain | None = None  # a reduce folding its input in chunks (items or span)
    fold_count: int = 0  # ... the items of that input
    judge: Judge | None = None  # skip what is up to date (item by item) when set
    pass_on: bool = True  # False: no stage takes this one's items (skipped ones go nowhere)
    whole: Verdict | None = None  # the verdict on a stage judged as a whole
    count: int = 0  # a whole stage's items (what a skip of it counts)
    skipped: list[Item] = field(default_factory=list)  # skipped since last asked, passed on
    skipped_count: int = 0  # skipped since last asked, passed on or not
    notes: list[str] = field(default_factory=list)
    incomplete: bool = False  # an item was left out or could not be made: reduces after it
    blocked: str = ""  # why a whole stage that must run cannot (an input skipped or left out)
    next_id: Iterator[int] = field(default_factory=lambda: iter(range(1, 1 << 62)))
    branch_runs: dict[int, int] = field(default_factory=dict)  # a tree: items run per branch
    partly: int = 0  # a tree: items that ran only some of its branches
    _span_pos: int = 0
    _pending: deque = field(default_factory=deque)
    _folding: Iterator[tuple[Task, Any]] | None = None  # chunks of a folded input to send
    _fold_started: bool = False
    _fold_failed: bool = False
    _folds_out: int = 0  # chunks sent whose partial has not come back
    _folded: list[tuple[int, Any]] = field(default_factory=list)  # (where, partial)
    exhausted: bool = False

    def take_skipped(self) -> tuple[int, list[Item]]:
        """How many items were skipped since the last call, and those passed on."""
        out = (self.skipped_count, self.skipped)
        self.skipped, self.skipped_count = [], 0
        return out

    def take_notes(self) -> list[str]:
        """Notices for the summary since the last call."""
        out, self.notes = self.notes, []
        return out

    def next_task(self) -> tuple[Task, list[Item] | int] | None:
        """The next task and what it holds (its Items, or the span's first index)."""
        if self.exhausted:
            return None
        stage_id, chain = self.stage.id, self.sc.chain
        if self.whole is not None and not self.whole.run:
            return self._skip_whole()
        if self.blocked:
            return self._cannot(1, self.blocked)
        if self.fold_chain is not None:
            return self._next_fold()
        if self.partials is not None:
            self.exhausted = True
            return Task(stage_id, next(self.next_id), chain, partials=tuple(self.partials)), []
        if self.reduce_items is not None:
            self.exhausted = True
            # Only the values, made into the task at once: no Item of each kept beside.
            values = tuple((i, it.value, ()) for i, it in enumerate(self.reduce_items))
            if any(v is NOT_NEEDED for _, v, _ in values):  # a value an earlier stage skipped
                return self._cannot(1)
            return Task(stage_id, next(self.next_id), chain, items=values), []
        if self.span is not None:
            return self._next_span()
        return self._next_items()

    def folds(self, task: Task) -> bool:
        """Is ``task`` a chunk of this reduce's input, to be folded?"""
        return self.fold_chain is not None and task.chain is self.fold_chain

    def fold_back(self, meta: Chunk | int, res: TaskResult) -> ItemFailure | None:
        """A chunk came back (``meta``: what its task holds, a Chunk or the first index
        of a sub-range): its partial is kept, or its first failure returned, once, and
        the reduce fails whole."""
        if self._fold_failed:
            return None  # the reduce failed already: the other chunks are not needed
        if not res.failures and res.partial is not None:
            self._folds_out -= 1
            self._folded.append((meta if isinstance(meta, int) else meta.at, res.partial))
            return None
        self.fold_failed()
        return res.failures[0] if res.failures else \
            ItemFailure(0, self.stage.steps[0].id, "its chunk came back empty")

    def fold_failed(self) -> None:
        """A chunk failed (or was lost for good): the reduce fails; nothing more goes out."""
        self._folding, self._folds_out, self.exhausted = None, 0, True
        self._fold_failed = True

    def _next_fold(self) -> tuple[Task, Any] | None:
        """The next chunk of the input; once every chunk's partial is back, the task that
        finishes the reduce from them (in input order, so the result never depends on
        which chunk came back first)."""
        if not self._fold_started:
            self._fold_started, self._folding = True, self._fold_chunks()
        if self._folding is not None:
            nxt = next(self._folding, None)
            if nxt is not None:
                self._folds_out += 1
                return nxt
            self._folding = None
        if self._folds_out:
            return None  # chunks still out: the last task waits for their partials
        self.exhausted = True
        parts = tuple(p for _, p in sorted(self._folded, key=lambda fp: fp[0]))
        return Task(self.stage.id, next(self.next_id), self.sc.chain, partials=parts), []

    def _fold_chunks(self) -> Iterator[tuple[Task, Any]]:
        """The input's chunks as tasks of the fold chain, with what each holds."""
        assert self.fold_chain is not None
        if self.span is not None:
            for first in range(0, self.span.count, self.chunksize):
                last = min(self.span.count, first + self.chunksize)
                yield Task(self.stage.id, next(self.next_id), self.fold_chain,
                           span=self.span.sub(first, last)), first
            return
        assert self.items is not None
        at = 0
        while chunk := Chunk(islice(self.items, self.chunksize)):
            chunk.at, at = at, at + len(chunk)
            yield Task(self.stage.id, next(self.next_id), self.fold_chain,
                       items=tuple((o, it.value, ()) for o, it in enumerate(chunk))), chunk

    def _skip_whole(self) -> None:
        """The stage is up to date as a whole (or left out): nothing runs."""
        assert self.whole is not None
        self.exhausted = True
        self.skipped_count += self.count
        if self.whole.passed and self.stage.kind == "reduce":
            self.skipped.append(Item(0, self.whole.value))
        self.incomplete = not self.whole.passed
        return None

    def _cannot(self, count: int, why: str = CHANGED) -> None:
        """Items that must run but whose input was skipped upstream (it changed meanwhile,
        or was left out): counted skipped, with a notice; they run next time."""
        self.exhausted = self.exhausted or self.whole is not None or bool(self.blocked)
        self.incomplete = True
        self.skipped_count += count
        self.notes.append(why)
        return None

    def _next_items(self) -> tuple[Task, Batch] | None:
        assert self.items is not None
        batch = Batch()
        batch.keys = []
        entries: list[tuple[int, Any, tuple]] = []
        while len(batch) < self.chunksize:
            if not self._pending and not self._judge_more():
                break
            it, v, key = self._pending.popleft()
            if v is not None and not v.run:
                self.skipped_count += 1
                if v.passed and self.pass_on:
                    self.skipped.append(Item(it.index, v.value, it.source, it.root))
                elif v.reason != UP_TO_DATE:  # left out, not dropped by a filter
                    self.incomplete = True
                    self.notes.append(LEFT_ITEMS)
                continue
            if it.value is NOT_NEEDED:
                self._cannot(1)
                continue
            entries.append((len(batch), it.value, key.outs))
            batch.append(it)
            batch.keys.append(key)
        if not batch:
            self.exhausted = True
            note = self.branch_note() if self.stage.branches else None
            if note:
                self.notes.append(note)
            return None
        only = self._only(batch.keys) if self.stage.branches else ()
        return Task(self.stage.id, next(self.next_id), self.sc.chain, items=tuple(entries),
                    only=only), batch

    def _only(self, keys: list[Key]) -> tuple[tuple[int, tuple[int, ...]], ...]:
        """A tree's items that run only some branches, and which (counted for the notice)."""
        every = len(self.stage.branches)
        out = []
        for off, key in enumerate(keys):
            ran = tuple(n for n, _ in key.parts) if key.parts else tuple(range(every))
            for n in ran:
                self.branch_runs[n] = self.branch_runs.get(n, 0) + 1
            if len(ran) < every:
                out.append((off, ran))
        self.partly += len(out)
        return tuple(out)

    def branch_note(self) -> str | None:
        """What a tree that remade only some branches of some items did, per branch."""
        if not self.partly:
            return None
        per = ", ".join(f"{arm} {self.branch_runs.get(n, 0)}"
                        for n, arm in enumerate(self.stage.arms))
        return (f"{self.stage.label}: {self.partly} item(s) remade only the branches not up to "
                f"date; items run per branch: {per}")

    def _judge_more(self) -> bool:
        """Read and judge the next window of items; False when there are none left."""
        assert self.items is not None
        window = list(islice(self.items, max(WINDOW, self.chunksize)))
        if not window:
            return False
        if self.judge is None:
            self._pending.extend(
                (it, None, Key(None, None, "", item_outs(self.sc, it, self.resolver)))
                for it in window)
        else:
            verdicts = self.judge.items(self.stage, window)
            self._pending.extend((it, v, k) for it, (v, k) in zip(window, verdicts, strict=True))
        return True

    def _next_span(self) -> tuple[Task, int] | None:
        assert self.span is not None
        if self._span_pos >= self.span.count:
            self.exhausted = True
            return None
        first = self._span_pos
        self._span_pos = last = min(self.span.count, first + self.chunksize)
        return Task(self.stage.id, next(self.next_id), self.sc.chain,
                    span=self.span.sub(first, last)), first


def lacking(st: Stage, runs: Mapping[str, Any], failures: bool) -> bool:
    """Did an item that reaches ``st`` go missing in this run: left out or made
    unavailable upstream (or, with ``failures``, failed)? ``runs``: StageRuns by id."""
    for src in st.sources:
        up = runs.get(src)
        if up is None:
            continue
        if (failures and up.failed) or (up.feed is not None and up.feed.incomplete) \
                or lacking(up.stage, runs, failures):
            return True
    return False


def retry_task(task: Task, keep: list[int] | None, next_id: int) -> Task:
    """A careful copy of ``task`` holding only the items at offsets ``keep`` (None: all)."""
    if keep is None:
        return replace(task, task_id=next_id, careful=True)
    wanted = set(keep)
    if task.span is not None:  # offsets stay those of the span, so results map back
        entries = tuple((o, v, ()) for o, v in enumerate(task.span) if o in wanted)
        return Task(task.stage, next_id, task.chain, items=entries, careful=True)
    if task.items is not None:
        kept = tuple(e for e in task.items if e[0] in wanted)
        return Task(task.stage, next_id, task.chain, items=kept, careful=True, only=task.only)
    return Task(task.stage, next_id, task.chain, partials=task.partials, careful=True)
