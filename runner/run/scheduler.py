"""The scheduler: feeds stages' tasks to an executor and turns results into events.

One loop in the main thread. Each stage starts when all its sources are
finished and runs on the executor it was given (``mode: serial`` stages on the
serial one, the others on the pool or the Dask cluster). Independent stages run
side by side on the same executor, each holding at most its share of the
executor's capacity in flight (in proportion to the workers the stage may use,
the widest stage getting all of it), so the parent keeps only small values
(paths, numbers) and never an item's pixels. A lost task (its worker died or
timed out) fails the item it was on, or retries it, and its other items are
sent again: nothing waits on a result that cannot come.

How a stage ends: ``done`` (every item done or up to date), ``partial`` (some of
its items failed; for a reduce, also when items of its input failed upstream, so
its value is over part of its input), ``failed`` (every item failed) or
``cancelled`` (it never finished: the run stopped, or every item of its input had
failed upstream, so there was nothing to run it on). Each stage has one clock:
from the moment its first task is sent to the moment its last result arrives.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from runner.execute.base import Done, Executor, ItemFailure, Lost, Running, Task, TaskResult
from runner.files.inputs import Item
from runner.plan import Stage
from runner.report.events import (
    FailureRecord,
    ItemFailed,
    ItemNotice,
    Reporter,
    StageFinished,
    StageProgress,
    StageStarted,
)
from runner.run.feed import Feed, StageChain, retry_task
from runner.run.stalls import StallWatch

KEEP_NOTICES = 1000  # items' output kept for the report; the rest are counted
PROGRESS_EVERY = 0.1  # seconds between progress events of one stage
POLL_WAIT = 0.05  # seconds to wait for a completion when none is ready


# States of a stage that has ended, as StageFinished and the summary spell them.
FINISHED = ("done", "partial", "failed", "cancelled")


@dataclass
class StageRun:
    """The parent's book-keeping for one stage while it runs."""

    stage: Stage
    sc: StageChain
    workers: int
    state: str = "waiting"
    feed: Feed | None = None
    inflight: dict[int, tuple[Task, Any]] = field(default_factory=dict)
    attempts: dict[int, int] = field(default_factory=dict)  # item position -> lost attempts
    results: list[tuple[int, Item]] = field(default_factory=list)
    keep: int | None = None  # values kept at most (nobody downstream reads them); None: all
    made: int = 0  # values the stage gave (kept or not)
    partials: list[Any] = field(default_factory=list)
    done: int = 0
    failed: int = 0
    skipped: int = 0
    missing: int = 0  # items of its input that failed upstream
    total: int | None = None
    sent: float | None = None  # when its first task was sent (the stage's clock starts)
    last: float | None = None  # when its last result arrived
    seconds: float = 0.0  # its time, once it has ended
    last_progress: float = 0.0

    def outcome(self) -> str:
        """How a stage that ran to its end ended: done, partial or failed."""
        if self.failed and not (self.done or self.skipped):
            return "failed"
        if self.failed or (self.stage.kind == "reduce" and self.missing):
            return "partial"
        return "done"

    def outputs(self) -> list[Item]:
        """The items this stage gives downstream, in input order."""
        self.results.sort(key=lambda r: r[0])
        return [it for _, it in self.results]


class Stopped(Exception):
    """``on_error: stop`` fired; carries the failure that stopped the run."""

    def __init__(self, record: FailureRecord) -> None:
        super().__init__(record.reason)
        self.record = record


@dataclass
class Scheduler:
    """Runs a planned workflow's stages; see the module docstring."""

    runs: dict[str, StageRun]
    executors: dict[str, Executor]  # the executor that runs each stage, by stage id
    reporter: Reporter
    workdir: str
    start_feed: Any  # callable(StageRun, dict[str, StageRun]) -> Feed
    recorder: Any = None  # runner.run.record.Recorder: the journal, written as results land
    failures: list[FailureRecord] = field(default_factory=list)
    notices: dict[str, int] = field(default_factory=dict)
    item_notices: list[ItemNotice] = field(default_factory=list)  # the first KEEP_NOTICES
    item_notice_count: int = 0
    stalls: StallWatch = field(default_factory=StallWatch)
    _task_ids: Any = field(default_factory=lambda: iter(range(1 << 40, 1 << 62)))

    def run(self) -> None:
        """Until every stage is finished; raises Stopped or KeyboardInterrupt."""
        while any(r.state in ("waiting", "running") for r in self.runs.values()):
            self._start_ready()
            self._top_up()
            self._collect()
            self._finish_idle()
            self._progress()
            if self.stalls.due():
                self._watch_stalls()

    def _collect(self) -> None:
        """Take what came back from every executor with tasks in flight; wait a little
        (on one of them) only when nothing is ready anywhere."""
        busy: dict[int, Executor] = {}
        for r in self.runs.values():
            if r.inflight:
                ex = self.executors[r.stage.id]
                busy[id(ex)] = ex
        got = [c for ex in busy.values() for c in ex.poll(0)]
        if not got and busy:
            got = next(iter(busy.values())).poll(POLL_WAIT)
        for c in got:
            self._complete(c)

    def _room(self, r: StageRun) -> int:
        """How many tasks stage ``r`` may hold in flight: its share of its executor's capacity."""
        ex = self.executors[r.stage.id]
        widest = max(o.workers for o in self.runs.values() if self.executors[o.stage.id] is ex)
        return max(1, ex.capacity() * r.workers // max(1, widest))

    # -- stage life -------------------------------------------------------------------------
    def _start_ready(self) -> None:
        for r in self.runs.values():
            if r.state != "waiting":
                continue
            ups = [self.runs[s] for s in r.stage.sources if s in self.runs]
            if not all(u.state in FINISHED for u in ups):
                continue
            r.missing = sum(u.failed + u.missing for u in ups)
            if ups and len(ups) == len(r.stage.sources) and r.missing and \
                    not any(u.done or u.skipped for u in ups):
                self._end(r, "cancelled")  # every item of its input failed: nothing to run on
                continue
            r.feed = self.start_feed(r, self.runs)
            r.state = "running"

    def _announce(self, r: StageRun) -> None:
        """The stage's clock starts: its first task goes out now (or it has none)."""
        r.sent = time.monotonic()
        self.reporter.handle(StageStarted(r.stage.id, r.total, time.time()))

    def _top_up(self) -> None:
        for r in self.runs.values():
            if r.state != "running" or r.feed is None:
                continue
            # Asked after each task: a lazy executor's room grows once a task started it.
            while len(r.inflight) < self._room(r):
                nxt = self._next(r)
                if nxt is None:
                    break
                task, meta = nxt
                if r.sent is None:
                    self._announce(r)
                r.inflight[task.task_id] = (task, meta)
                self.executors[r.stage.id].submit(task)

    def _next(self, r: StageRun) -> tuple[Task, Any] | None:
        """The stage's next task; items found up to date on the way count as skipped."""
        assert r.feed is not None
        nxt = r.feed.next_task()
        count, passed = r.feed.take_skipped()
        r.skipped += count
        r.results.extend((it.index, it) for it in passed)
        for note in r.feed.take_notes():
            self.notices[note] = self.notices.get(note, 0) + 1
        return nxt

    def _finish_idle(self) -> None:
        for r in self.runs.values():
            if r.state == "running" and r.feed is not None and r.feed.exhausted and not r.inflight:
                if r.sent is None:  # nothing to send (every item up to date, or none)
                    self._announce(r)
                    r.last = r.sent
                self._end(r, r.outcome())

    def _end(self, r: StageRun, state: str) -> None:
        r.state = state
        if r.sent is not None:  # a stage that never started has no counts to show
            self._emit_progress(r, force=True)
            # Cut short (a stop, Ctrl-C): its clock runs until now.
            end = r.last if state != "cancelled" and r.last is not None else time.monotonic()
            r.seconds = max(0.0, end - r.sent)
        if self.recorder is not None:
            self.recorder.stage_ended(r, state, self.runs)
        self.reporter.handle(StageFinished(r.stage.id, state, r.done, r.failed, r.skipped,
                                           r.seconds, time.time(), r.missing))

    def cancel_all(self, state: str = "cancelled") -> None:
        """Mark every unfinished stage cancelled (after a stop or Ctrl-C)."""
        for r in self.runs.values():
            if r.state in ("waiting", "running"):
                r.inflight.clear()
                self._end(r, state)

    # -- results ----------------------------------------------------------------------------
    def _complete(self, c: Done | Lost) -> None:
        r = self.runs[c.task.stage]
        entry = r.inflight.pop(c.task.task_id, None)
        if entry is None:
            return  # a late answer for a task already settled
        r.last = time.monotonic()
        task, meta = entry
        for ev in self.stalls.over(task):
            self.reporter.handle(ev)
        if isinstance(c, Lost):
            self._lost(r, c, meta)
        else:
            self.stalls.observe(task, c.result.seconds)
            self._done(r, task, meta, c.result)

    def _watch_stalls(self) -> None:
        """Report items that run far longer than their stage's typical item."""
        running = [x for ex in {id(e): e for e in self.executors.values()}.values()
                   for x in ex.running()]
        for ev in self.stalls.look(running, self._running_item):
            self.reporter.handle(ev)

    def _running_item(self, run: Running) -> str | None:
        entry = self.runs[run.task.stage].inflight.get(run.task.task_id)
        if entry is None:
            return None
        task, meta = entry
        offsets = [o for o, _, _ in task.items] if task.items is not None else [0]
        offset = run.offset if run.offset is not None or task.size() > 1 else offsets[0]
        if offset is None:
            return f"{task.size()} items"
        return self._describe(self._item(meta, offset), task, offset)

    def _done(self, r: StageRun, task: Task, meta: Any, res: TaskResult) -> None:
        for note in res.notes:
            self.notices[note] = self.notices.get(note, 0) + 1
        if self.recorder is not None:
            self.recorder.task_done(r, task, meta, res)
        if res.output:
            self._output(r, task, meta, res.output)
        if r.feed is not None and r.feed.folds(task):  # a chunk of a reduce's input, folded
            f = r.feed.fold_back(meta, res)
            if f is not None:  # the reduce fails whole, as with all its items in one task
                self._fail(r, FailureRecord(r.stage.id, f.step, self._whole(r), f.reason,
                                            f.attempts, f.detail))
            return
        if task.partials is not None or r.feed is not None and r.feed.reduce_items is not None:
            # A reduce: one item out of all that came in.
            r.done += 1 - len(res.failures)
            self._failures(r, task, meta, res.failures, reduce=True)
            for _, value in res.values:
                r.results.append((0, Item(0, value)))
            return
        if r.stage.fold and res.partial is not None:  # None: the chunk failed whole
            r.partials.append(res.partial)
        for off, value in res.values:
            src = self._item(meta, off)
            r.made += 1
            if r.keep is None or len(r.results) < r.keep:
                r.results.append((src.index, Item(src.index, value, src.source, src.root)))
        r.done += task.size() - len(res.failures)
        self._failures(r, task, meta, res.failures, reduce=False)

    def _whole(self, r: StageRun, task: Task | None = None) -> str:
        """How a reduce is named in its failure: all the items it takes."""
        n = r.feed.fold_count if r.feed and r.feed.fold_chain else task.size() if task else 1
        return f"{r.stage.label} (all {n} items)"

    def _item(self, meta: Any, offset: int) -> Item:
        if isinstance(meta, int):  # a span task: meta is the index of its first number
            return Item(meta + offset, None)
        return meta[offset]

    def _failures(self, r: StageRun, task: Task, meta: Any, failures: tuple[ItemFailure, ...],
                  reduce: bool) -> None:
        for f in failures:
            what = self._whole(r, task) if reduce else \
                self._describe(self._item(meta, f.offset), task, f.offset)
            self._fail(r, FailureRecord(r.stage.id, f.step, what, f.reason, f.attempts, f.detail))

    def _describe(self, item: Item, task: Task, offset: int) -> str:
        if item.source:
            return os.path.relpath(item.source, self.workdir)
        value = item.value
        if value is None and task.span is not None:
            value = task.span.at(offset)
        elif value is None and task.items is not None:
            value = next((v for o, v, _ in task.items if o == offset), None)
        return f"item {item.index} ({value!r})"

    def _output(self, r: StageRun, task: Task, meta: Any,
                output: tuple[tuple[int, str], ...]) -> None:
        """What items wrote while they ran: a notice each, the first ones kept."""
        reduce = task.partials is not None or r.stage.kind == "reduce"
        for off, text in output:
            if off < 0 and task.size() == 1:
                off = task.items[0][0] if task.items else 0  # one item: it said it
            if reduce:
                what = self._whole(r, task)
            elif off < 0:  # not told which: before the first item, or a whole chunk
                what = f"{r.stage.label} (a task of {task.size()} items)"
            else:
                what = self._describe(self._item(meta, off), task, off)
            note = ItemNotice(r.stage.id, what, text, time.time())
            self.item_notice_count += 1
            if len(self.item_notices) < KEEP_NOTICES:
                self.item_notices.append(note)
            self.reporter.handle(note)

    def _fail(self, r: StageRun, rec: FailureRecord) -> None:
        r.failed += 1
        self.failures.append(rec)
        self.reporter.handle(ItemFailed(rec.stage, rec.step, rec.item, rec.reason, rec.attempts,
                                        time.time(), rec.detail))
        if r.stage.on_error == "stop":
            raise Stopped(rec)

    def _lost(self, r: StageRun, lost: Lost, meta: Any) -> None:
        """A worker died or timed out: fail or retry its item, resend the others."""
        task = lost.task
        if r.stage.kind == "reduce":  # one result: its tasks retried, or it fails whole
            r.attempts[0] = r.attempts.get(0, 0) + 1
            if r.attempts[0] > r.stage.retries:
                if r.feed is not None:
                    r.feed.fold_failed()  # chunks of its input still out are not needed
                self._fail(r, FailureRecord(r.stage.id, r.stage.label, self._whole(r, task),
                                            lost.reason, r.attempts[0]))
            else:
                self._resend(r, task, meta, None)
            return
        offsets = [e[0] for e in task.items] if task.items is not None else \
            list(range(task.size()))
        offset = lost.offset
        if (offset is None or offset < 0) and len(offsets) == 1:
            offset = offsets[0]  # one item: it is the culprit
        if offset is None or offset < 0:
            if task.careful or task.partials is not None:
                for off in offsets:  # nothing narrows it down further: all of it failed
                    self._lost_item(r, task, meta, off, lost.reason)
                return
            self._resend(r, task, meta, offsets)  # find the culprit item by item
            return
        key = self._key(meta, offset)
        r.attempts[key] = r.attempts.get(key, 0) + 1
        if r.attempts[key] > r.stage.retries:
            self._lost_item(r, task, meta, offset, lost.reason)
            offsets.remove(offset)
        if offsets:
            self._resend(r, task, meta, offsets)

    def _key(self, meta: Any, offset: int) -> int:
        return self._item(meta, offset).index

    def _lost_item(self, r: StageRun, task: Task, meta: Any, offset: int, reason: str) -> None:
        """Fail one item whose worker died or timed out, retries spent."""
        attempts = r.attempts.get(self._key(meta, offset), 1)
        step = r.stage.steps[0].id if len(r.stage.steps) == 1 else r.stage.label
        what = self._describe(self._item(meta, offset), task, offset)
        if self.recorder is not None:
            self.recorder.item_lost(r, meta, offset, reason)
        self._fail(r, FailureRecord(r.stage.id, step, what, reason, attempts))

    def _resend(self, r: StageRun, task: Task, meta: Any, offsets: list[int] | None) -> None:
        again = retry_task(task, offsets, next(self._task_ids))
        r.inflight[again.task_id] = (again, meta)
        self.executors[r.stage.id].submit(again)

    # -- progress ---------------------------------------------------------------------------
    def _progress(self) -> None:
        for r in self.runs.values():
            if r.state == "running" and r.sent is not None:
                self._emit_progress(r)

    def _emit_progress(self, r: StageRun, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - r.last_progress >= PROGRESS_EVERY:
            r.last_progress = now
            self.reporter.handle(StageProgress(r.stage.id, r.done, r.failed, r.skipped, r.total,
                                               time.time()))
