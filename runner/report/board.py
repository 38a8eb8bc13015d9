"""The counters a human-facing reporter keeps: one row per stage.

:class:`Board` folds the run's events into plain Python attributes so that
``handle()`` stays a few attribute stores (the engine may send thousands of
progress events a second). The live table and the plain lines both read it,
and the formatting helpers here give them the same numbers and spellings.
No rich here: plain lines must not pay for importing it.

Counts: ``done``, ``failed`` and ``skipped`` are taken as disjoint (an item
is one of them), so ``done + failed + skipped`` is how far a stage has got.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from runner.report.escape import printable
from runner.report.events import (
    Event,
    ItemFailed,
    ItemNotice,
    ItemStalled,
    Notice,
    RunFinished,
    RunStarted,
    StageFinished,
    StageProgress,
    StageStarted,
)


class StageRow:
    """A stage's row: mutable on purpose, updated in place on every event."""

    __slots__ = ("id", "label", "mode", "workers", "total", "done", "failed", "skipped",
                 "state", "started", "seconds")

    def __init__(self, id: str, label: str, mode: str, workers: int,
                 total: int | None) -> None:
        self.id = id
        self.label = label
        self.mode = mode
        self.workers = workers
        self.total = total
        self.done = 0
        self.failed = 0
        self.skipped = 0
        self.state = "waiting"  # waiting | running | done | partial | failed | cancelled
        self.started: float | None = None  # event clock
        self.seconds: float | None = None  # set when the stage ends

    def settle(self, state: str, done: int, failed: int, skipped: int,
               seconds: float) -> None:
        """The stage ended: its final counts; a total never below what was processed."""
        self.state = state
        self.done, self.failed, self.skipped = done, failed, skipped
        self.seconds = seconds
        if self.total is None or self.total < self.processed:
            self.total = self.processed

    @property
    def processed(self) -> int:
        """Items the stage has got through: done, failed or skipped."""
        return self.done + self.failed + self.skipped

    def elapsed(self, now: float) -> float | None:
        """Seconds the stage has run (``now`` on the event clock), or None if not started."""
        if self.seconds is not None:
            return self.seconds
        if self.started is None:
            return None
        return max(0.0, now - self.started)

    def rate(self, now: float) -> float | None:
        """Items per second over the stage's running time; skipped items don't count."""
        elapsed = self.elapsed(now)
        worked = self.done + self.failed
        if not elapsed or elapsed < 0.05 or not worked:
            return None
        return worked / elapsed

    def eta(self, now: float) -> float | None:
        """Seconds left at the current rate, when the total is known and it is running."""
        if self.state != "running" or self.total is None:
            return None
        rate = self.rate(now)
        if not rate:
            return None
        return max(0, self.total - self.processed) / rate


# A stage the run left unfinished is shown as cancelled, whatever stopped it.
_UNFINISHED = ("waiting", "running")


class Board:
    """The run so far: title facts, stage rows, failure and notice counts."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.workflow = ""
        self.workers = 0
        self.executor = ""
        self.rows: list[StageRow] = []
        self.by_id: dict[str, StageRow] = {}
        self.failures = 0
        self.latest_failure: ItemFailed | None = None
        self.notices: list[str] = []
        self.item_notices = 0  # items that wrote output or warnings


        self.stalled: dict[tuple[str, str], tuple[float, float | None]] = {}
        self.t0: float | None = None  # RunStarted's t (event clock)
        self.local0 = 0.0  # our clock when RunStarted arrived
        self.latest = float("-inf")  # the newest event time seen
        self.end: float | None = None  # event-clock seconds since t0 when the run ended
        self.result_state: str | None = None

    # --- events -------------------------------------------------------------------------
    def apply(self, event: Event) -> None:
        """Fold one event into the counters (cheap: a dict lookup and a few stores)."""
        if self.t0 is None:
            self.t0 = event.t
            self.local0 = self.clock()
        if event.t > self.latest:
            self.latest = event.t
        kind = type(event)
        if kind is StageProgress:
            row = self.row(event.stage)
            if row.seconds is not None:
                return  # a late count after the stage ended: its final counts stand
            row.done, row.failed, row.skipped = event.done, event.failed, event.skipped
            if event.total is not None:
                row.total = event.total
            if row.state == "waiting":
                row.state, row.started = "running", event.t
        elif kind is ItemFailed:
            self.failures += 1
            self.latest_failure = event
        elif kind is StageStarted:
            row = self.row(event.stage)
            row.state, row.started = "running", event.t
            if event.total is not None:
                row.total = event.total
        elif kind is StageFinished:
            self.stalled = {k: v for k, v in self.stalled.items() if k[0] != event.stage}
            self.row(event.stage).settle(event.state, event.done, event.failed, event.skipped,
                                         event.seconds)
        elif kind is RunStarted:
            self.t0, self.local0 = event.t, self.clock()
            self.workflow, self.workers, self.executor = (event.workflow, event.workers,
                                                          event.executor)
            for info in event.stages:
                self.rows.append(StageRow(info.id, info.label, info.mode, info.workers,
                                          info.total))
            self.by_id = {r.id: r for r in self.rows}
        elif kind is Notice:
            self.notices.append(event.message)
        elif kind is ItemStalled:
            if event.over:
                self.stalled.pop((event.stage, event.item), None)
            else:
                self.stalled[(event.stage, event.item)] = (event.t - event.seconds, event.typical)
        elif kind is RunFinished:
            self._finish(event)
        elif kind is ItemNotice:
            self.item_notices += 1

    def row(self, stage: str) -> StageRow:
        """The row of ``stage``; a stage RunStarted did not announce gets a row of its own."""
        row = self.by_id.get(stage)
        if row is None:
            row = StageRow(stage, stage, "?", 0, None)
            self.rows.append(row)
            self.by_id[stage] = row
        return row

    def _finish(self, event: RunFinished) -> None:
        result = event.result
        self.result_state = result.state
        self.workflow = self.workflow or result.workflow
        self.end = result.seconds or (event.t - (self.t0 or event.t))
        for summary in result.stages:
            self.row(summary.id).settle(summary.state, summary.done, summary.failed,
                                        summary.skipped, summary.seconds)
        for row in self.rows:
            if row.state in _UNFINISHED:
                row.state = "cancelled"

    # --- time ---------------------------------------------------------------------------
    def now(self) -> float:
        """The present moment on the event clock (whatever clock the engine stamps with)."""
        if self.t0 is None:
            return 0.0
        # Never behind the newest event, should the engine's clock run ahead of ours.
        return max(self.t0 + (self.clock() - self.local0), self.latest)

    def elapsed(self) -> float:
        """Seconds since the run started; frozen once it has finished."""
        if self.end is not None:
            return self.end
        if self.t0 is None:
            return 0.0
        return max(self.clock() - self.local0, self.latest - self.t0)

    def since_start(self, t: float) -> float:
        """An event's time as seconds since the run started."""
        return 0.0 if self.t0 is None else max(0.0, t - self.t0)


# --- spellings shared by the table, the lines and the summary ---------------------------
def fmt_clock(seconds: float) -> str:
    """The title's clock: ``00:04``, ``12:30``, ``1:02:03``."""
    s = int(seconds)
    h, m, s = s // 3600, s // 60 % 60, s % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def fmt_duration(seconds: float | None) -> str:
    """A stage's elapsed time or ETA: ``0:01``, ``12:30``, ``1:02:03``; ``-`` if unknown."""
    if seconds is None:
        return "-"
    s = int(round(seconds))
    h, m, s = s // 3600, s // 60 % 60, s % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def fmt_stamp(seconds: float) -> str:
    """A plain line's time stamp: ``00:00.1``; hours when a run is that long."""
    tenths = int(seconds * 10 + 1e-6)  # 4.7999… is 4.8 on the wall clock
    s, t = divmod(tenths, 10)
    h, m, s = s // 3600, s // 60 % 60, s % 60
    return f"{h}:{m:02d}:{s:02d}.{t}" if h else f"{m:02d}:{s:02d}.{t}"


def fmt_rate(rate: float | None) -> str:
    """Items per second: ``104``, ``2.5``, ``0.31``; ``-`` if unknown."""
    if rate is None:
        return "-"
    if rate >= 10:
        return f"{rate:.0f}"
    if rate >= 1:
        return f"{rate:.1f}"
    return f"{rate:.2f}"


def fmt_seconds(seconds: float) -> str:
    """A run's or stage's length in the summary: ``0.42 s``, ``4.3 s``, ``2 min 05 s``."""
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(round(seconds)), 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def fmt_mode(mode: str, workers: int) -> str:
    """``map×2``: how a stage runs."""
    return f"{mode}×{workers}"


def fmt_total(total: int | None) -> str:
    return "?" if total is None else str(total)


def one_line(text: str, limit: int = 300) -> str:
    """A reason squeezed onto one line, cut at ``limit`` characters."""
    flat = printable(" ".join(text.split()))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def failure_line(item: str, step: str, reason: str, attempts: int) -> str:
    """``photos/a.jpg at shrink: OSError: image file is truncated``: one failed item."""
    tail = f" (after {attempts} attempts)" if attempts > 1 else ""
    return f"{printable(item)} at {step}: {one_line(reason)}{tail}"


def wrote_line(count: int) -> str:
    """``6 items wrote output or warnings``: how many items had something to say."""
    return f"{count} item{'s' * (count != 1)} wrote output or warnings"


def stall_line(event: ItemStalled, label: str) -> str:
    """``still running: photos/a.jpg in stage s for 2.1 s (a typical item takes 0.01 s)``,
    or ``... done after 4.0 s`` once it is over."""
    if event.over:
        return f"slow item done: {event.item} in stage {label} after {fmt_seconds(event.seconds)}"
    typical = (f" (a typical item takes {fmt_seconds(event.typical)})"
               if event.typical is not None else "")
    return (f"still running: {event.item} in stage {label} for "
            f"{fmt_seconds(event.seconds)}{typical}")
