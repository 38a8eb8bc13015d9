"""Reporters for a stream that is not a terminal: plain lines, or JSON Lines.

:class:`PlainReporter` writes a line when a stage starts, a count per running
stage at most every few seconds, a line when a stage ends, and one per failed
item; CI logs and ``flow run ... | tee log`` read well. :class:`JsonReporter`
writes one JSON object per event (``--json``), progress throttled per stage
but the final counts always sent. Both flush after every line so a reader
sees it at once, and both go quiet rather than crash the run if the reader
goes away (``flow run ... | head``).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, TextIO

from runner.report.board import (
    Board,
    failure_line,
    fmt_mode,
    fmt_rate,
    fmt_seconds,
    fmt_stamp,
    fmt_total,
    one_line,
    stall_line,
)
from runner.report.escape import encodable
from runner.report.events import (
    Event,
    ItemFailed,
    ItemStalled,
    Notice,
    RunFinished,
    RunStarted,
    StageFinished,
    StageProgress,
    StageStarted,
    event_name,
)


class _Lines:
    """Writes whole lines to a stream and flushes; stops writing once the reader is gone."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.broken = False

    def write(self, line: str) -> None:
        if self.broken:
            return
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (BrokenPipeError, ValueError, OSError):
            # The pipe closed or the stream was closed: the run itself must go on.
            self.broken = True


class PlainReporter:
    """Plain progress lines, stamped with the time since the run started."""

    def __init__(self, stream: TextIO, verbose: bool = False, every: float = 2.0) -> None:
        self.out = _Lines(stream)
        self.verbose = verbose
        self.every = every  # seconds between count lines of one stage
        self.board = Board()
        self._last_line: dict[str, float] = {}  # stage -> event time of its last count line
        self._last_counts: dict[str, tuple[int, int, int, int | None]] = {}

    def handle(self, event: Event) -> None:
        """Update the counters; write a line when there is something to say."""
        self.board.apply(event)
        kind = type(event)
        if kind is StageProgress:
            last = self._last_line.get(event.stage)
            if last is not None and event.t - last < self.every:
                return  # the common case: too soon for another line
            if self.board.row(event.stage).state != "running":
                return
            self._progress(event)
        elif kind is ItemFailed:
            self._say(event.t, "failed: " + failure_line(event.item, event.step, event.reason,
                                                          event.attempts))
            if self.verbose and event.detail:
                for text in event.detail.rstrip().splitlines():
                    self.out.write("    " + text)
        elif kind is StageStarted:
            row = self.board.row(event.stage)
            n = event.total
            items = f"{n} item{'s' * (n != 1)}, " if n is not None else ""
            self._say(event.t, f"stage {row.label}: started, {items}"
                               f"{fmt_mode(row.mode, row.workers)}")
            # The first count line comes a full interval after the start.
            self._last_line[event.stage] = event.t
        elif kind is StageFinished:
            self._finished(event)
        elif kind is RunStarted:
            n = len(event.stages)
            self._say(event.t, f"run {event.workflow}: {n} stage{'s' * (n != 1)}, "
                               f"{event.workers} worker{'s' * (event.workers != 1)} "
                               f"({event.executor})")
        elif kind is Notice:
            self._say(event.t, "note: " + one_line(event.message))
        elif kind is ItemStalled:
            self._say(event.t, stall_line(event, self.board.row(event.stage).label))
        elif kind is RunFinished:
            result = event.result
            self._say(event.t, f"run {result.workflow}: {result.state} "
                               f"in {fmt_seconds(result.seconds or self.board.elapsed())}")

    def close(self) -> None:
        """Nothing is held back; flush once more for streams that buffer."""
        if not self.out.broken:
            try:
                self.out.stream.flush()
            except (OSError, ValueError):
                pass

    # --- lines --------------------------------------------------------------------------
    def _say(self, t: float, text: str) -> None:
        self.out.write(f"[{fmt_stamp(self.board.since_start(t))}] {text}")

    def _progress(self, event: StageProgress) -> None:
        counts = (event.done, event.failed, event.skipped, event.total)
        if self._last_counts.get(event.stage) == counts:
            return  # nothing moved: say nothing
        self._last_counts[event.stage] = counts
        self._last_line[event.stage] = event.t
        row = self.board.row(event.stage)
        total = fmt_total(row.total)
        skipped = f", {event.skipped} skipped" if event.skipped else ""
        rate = row.rate(event.t)
        per_s = f", {fmt_rate(rate)}/s" if rate is not None else ""
        self._say(event.t, f"stage {row.label}: {event.done}/{total} done, "
                           f"{event.failed} failed{skipped}{per_s}")

    def _finished(self, event: StageFinished) -> None:
        row = self.board.row(event.stage)
        n = event.missing
        lost = f"{n} item{'s' * (n != 1)} of its input failed"
        if row.started is None:  # it never started
            why = f": {'all ' * (n > 1)}{lost}" if n else ""
            self._say(event.t, f"stage {row.label}: {event.state}{why}")
            return
        skipped = f", {event.skipped} skipped" if event.skipped else ""
        skipped += f", {lost}" if n else ""
        rate = event.done + event.failed
        per_s = (f", {fmt_rate(rate / event.seconds)}/s"
                 if event.seconds >= 0.05 and rate else "")
        self._say(event.t, f"stage {row.label}: {event.state} in {fmt_seconds(event.seconds)}, "
                           f"{event.done} done, {event.failed} failed{skipped}{per_s}")


class JsonReporter:
    """JSON Lines: ``{"event": "stage_progress", ...fields}``, one event per line."""

    def __init__(self, stream: TextIO, verbose: bool = False, per_second: float = 5.0) -> None:
        self.out = _Lines(stream)
        self.verbose = verbose
        self.gap = 1.0 / per_second  # least time between two progress lines of one stage
        self._sent: dict[str, float] = {}  # stage -> event time of its last progress line
        self._held: dict[str, StageProgress] = {}  # progress not yet sent, newest per stage

    def handle(self, event: Event) -> None:
        """Write the event, except progress that comes too soon after the last one sent."""
        if type(event) is StageProgress:
            last = self._sent.get(event.stage)
            if last is not None and event.t - last < self.gap:
                self._held[event.stage] = event  # keep the newest; sent later if it is the last
                return
            self._held.pop(event.stage, None)
            if self._held:
                self._release(event.t, None)
            self._sent[event.stage] = event.t
            self._emit(event)
            return
        if self._held:
            # Final counts first: a stage's last progress precedes its end (and the run's),
            # and a stage quiet for a while gets its held counts out now rather than never.
            ended = event.stage if type(event) is StageFinished else None
            self._release(event.t, ended, everything=type(event) is RunFinished)
        self._emit(event)

    def close(self) -> None:
        """Send any progress still held, then flush."""
        for stage in list(self._held):
            self._emit(self._held.pop(stage))
        try:
            if not self.out.broken:
                self.out.stream.flush()
        except (OSError, ValueError):
            pass

    def _release(self, now: float, stage: str | None, everything: bool = False) -> None:
        for name in list(self._held):
            held = self._held[name]
            if everything or name == stage or now - self._sent.get(name, 0.0) >= self.gap:
                del self._held[name]
                # Spaced by when they go out, so held lines never beat the throttle.
                self._sent[name] = now
                self._emit(held)

    def _emit(self, event: Event) -> None:
        self.out.write(json.dumps(encodable(event_doc(event)), default=str, ensure_ascii=False))


def event_doc(event: Event) -> dict[str, Any]:
    """The JSON object of one event: its name, then its fields; a run's end carries its result."""
    if type(event) is RunFinished:
        return {"event": "run_finished", "t": event.t, "result": event.result.to_json()}
    return {"event": event_name(event), **asdict(event)}
