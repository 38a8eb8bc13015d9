"""The rich live table: a row per stage, redrawn a few times a second.

``handle()`` only updates a :class:`~runner.report.board.Board` (plain
attribute stores); rich's own refresh thread calls :meth:`LiveReporter.render`
to draw it, so thousands of progress events a second cost the engine next to
nothing. rich is imported inside the class only: importing this module must
stay cheap, and nothing else in flow may import rich.

Failed items are not printed over the table: while it runs, a line under it
counts them and shows the latest; at the end the summary lists them, once. The
table's last frame stays on screen as the run's per-stage account (the summary
under it does not repeat it).
"""

from __future__ import annotations

import os
from typing import Any, TextIO

from runner.report.board import (
    Board,
    StageRow,
    failure_line,
    fmt_clock,
    fmt_duration,
    fmt_mode,
    fmt_rate,
    fmt_seconds,
    fmt_total,
    wrote_line,
)
from runner.report.events import Event, StageProgress
from runner.report.layout import BAR, COLUMNS, GAP, RIGHT, Layout, fit, shorten

# Room kept from the first frame for cells that grow ("0:09" becomes "0:10", a stage
# ends "cancelled"), so the header does not move when they do.
RESERVED = {"progress": BAR, "/s": 4, "time": 4, "eta": 4, "state": len("cancelled")}

# Colours by state; waiting rows are dim so the eye goes to what moves.
STATE_STYLE = {
    "waiting": "dim",
    "running": "cyan",
    "done": "green",
    "partial": "yellow",
    "failed": "red",
    "cancelled": "magenta",
}


class LiveReporter:
    """Draws the run as a live table on a terminal.

    ``console`` (a ``rich.console.Console``) wins over ``stream``; tests pass
    ``Console(file=StringIO(), force_terminal=True, width=120)`` to read what
    a user would see.
    """

    def __init__(self, stream: TextIO | None = None, verbose: bool = False,
                 console: Any = None, refresh_per_second: float = 6.0) -> None:
        from rich.console import Console

        self._fd: int | None = None  # our own descriptor of the terminal, if we made one
        if console is None:
            stream = self._own(stream)
            console = Console(file=stream)
        self.console = console
        self._needs = {c: len(c) for c in COLUMNS} | RESERVED
        self.verbose = verbose
        self.refresh_per_second = refresh_per_second
        self.board = Board()
        self._live: Any = None
        self._closed = False

    # --- the Reporter contract ----------------------------------------------------------
    def handle(self, event: Event) -> None:
        """Fold the event into the counters; start the table on the first event."""
        self.board.apply(event)
        kind = type(event)
        if kind is StageProgress:
            return  # the hot path: the refresh thread will draw the new counts
        if self._live is None and not self._closed:
            self._start()

    def close(self) -> None:
        """Stop the table; its last state stays on screen."""
        if self._closed:
            return
        self._closed = True
        if self._live is not None:
            self._live.stop()  # draws once more: the final counts stay on screen
            self._live = None
        if self._fd is not None:
            self._fd = None
            try:
                self.console.file.close()
            except OSError:
                pass

    def _own(self, stream: TextIO | None) -> TextIO | None:
        """A stream of our own on ``stream``'s terminal (a duplicate descriptor).

        While an item runs in flow's own process (``mode: serial``), fds 1 and 2 are
        pointed at the item's capture file; rich's refresh thread, drawing meanwhile,
        must still reach the screen.
        """
        import sys

        target = stream if stream is not None else sys.stdout
        try:
            target.flush()
            fd = os.dup(target.fileno())
        except (AttributeError, OSError, ValueError):
            return stream  # not a real file (a test's buffer): draw on it as it is
        self._fd = fd
        return os.fdopen(fd, "w", encoding=getattr(target, "encoding", None) or "utf-8",
                         errors="replace")

    def __enter__(self) -> LiveReporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- drawing ------------------------------------------------------------------------
    def _start(self) -> None:
        from rich.live import Live

        self._live = Live(console=self.console, get_renderable=self.render,
                          auto_refresh=True, refresh_per_second=self.refresh_per_second,
                          transient=False, redirect_stdout=False, redirect_stderr=False)
        self._live.start()

    def render(self) -> Any:
        """The title row, the stage table and, while it runs, the failed items so far.

        The rows are laid out here (:mod:`runner.report.layout`) to fit the terminal,
        rather than left to rich to squeeze: rich cuts any cell, numbers included, and
        its choices change from frame to frame.
        """
        from rich.console import Group
        from rich.text import Text

        board = self.board
        rows = list(board.rows)  # a copy: the engine's thread may add a row meanwhile
        now = board.now()
        room = max(20, self._columns() - 1)  # one spare: ambiguous-width glyphs may be wide
        cells = [self._cells(row, now) for row in rows]
        self._need(rows, cells)
        layout = fit(room, self._needs)
        lines = [self._title(layout, room, Text)]
        header = Text(" ", no_wrap=True, overflow="crop")
        for column, width in zip(layout.columns, layout.widths, strict=True):
            header.append(_pad(column, width, column), style="bold")
            header.append(" " * GAP)
        header.rstrip()
        lines.append(header)
        for row, row_cells in zip(rows, cells, strict=True):
            lines.append(self._row(row, row_cells, layout, Text))
        for (stage, item), (since, typical) in list(board.stalled.items())[:3]:
            usual = f" (a typical item: {fmt_seconds(typical)})" if typical is not None else ""
            lines.append(Text(f" {item} in {board.row(stage).label}: running for "
                              f"{fmt_duration(now - since)}{usual}", style="yellow",
                              no_wrap=True, overflow="ellipsis"))
        latest = board.latest_failure
        if latest is not None and board.result_state is None:  # the summary lists them
            n = board.failures
            line = f" {n} failed item{'s' * (n != 1)} so far · latest: " + failure_line(
                latest.item, latest.step, latest.reason, latest.attempts)
            # Text, not markup: item paths may hold "[" and "]".
            lines.append(Text(line, style="red", no_wrap=True, overflow="ellipsis"))
        if board.item_notices:
            # Their text never goes on screen mid-run: it would tear the table apart.
            lines.append(Text(f" {wrote_line(board.item_notices)} (--verbose shows it, "
                              "--report keeps it)", style="yellow", no_wrap=True,
                              overflow="ellipsis"))
        return Group(*lines)

    def _columns(self) -> int:
        """The terminal's width now (it may be resized while the table runs)."""
        if self._fd is not None and "COLUMNS" not in os.environ:
            try:
                # Asked on our own descriptor: fds 1 and 2 may be captured for a while.
                self.console.width = os.get_terminal_size(self._fd).columns
            except OSError:
                pass
        return self.console.width

    def _need(self, rows: list[StageRow], cells: list[dict[str, str]]) -> None:
        """Widen the columns' needs to this frame's cells; they never narrow, so the
        header stays put from frame to frame. Counts get room for their totals at once."""
        known = [r.total for r in rows if r.total is not None]
        most = str(max(known, default=0))
        need = self._needs
        for column, least in (("done", 2 * len(most) + 1), ("fail", len(most)),
                              ("skip", len(most))):
            need[column] = max(need.get(column, 0), least)
        for row_cells in cells:
            for column, text in row_cells.items():
                if len(text) > need.get(column, 0):
                    need[column] = len(text)
        need["stage"] = max([need.get("stage", 0)] + [len(r.label) for r in rows])

    def _title(self, layout: Layout, room: int, Text: Any) -> Any:
        board = self.board
        n = len(board.rows)
        title = f"{board.workflow or 'flow'} · {n} stage{'s' * (n != 1)} · " \
                f"{board.workers} worker{'s' * (board.workers != 1)}"
        if board.executor and board.executor != "local":
            title += f" · {board.executor}"
        clock = fmt_clock(board.elapsed())
        width = min(room, max(layout.line, len(title) + len(clock) + 3))
        most = max(1, width - len(clock) - 3)
        if len(title) > most:
            title = title[:most - 1] + "…"
        line = Text(" ", no_wrap=True, overflow="crop")
        line.append(title, style="bold")
        line.append(" " * max(2, width - 1 - len(title) - len(clock)) + clock)
        return line

    def _cells(self, row: StageRow, now: float) -> dict[str, str]:
        """The text of each cell of ``row`` but the bar (drawn to the width it gets)."""
        rate = row.rate(now) if row.state != "waiting" else None
        return {
            "mode": fmt_mode(row.mode, row.workers),
            "done": f"{row.done}/{fmt_total(row.total)}",
            "fail": str(row.failed),
            "skip": str(row.skipped),
            "/s": fmt_rate(rate),
            "time": fmt_duration(row.elapsed(now)),
            "eta": fmt_duration(row.eta(now)),
            "state": row.state,
        }

    def _row(self, row: StageRow, cells: dict[str, str], layout: Layout, Text: Any) -> Any:
        state_style = STATE_STYLE.get(row.state, "")
        line = Text(" ", no_wrap=True, overflow="crop")
        for column, width in zip(layout.columns, layout.widths, strict=True):
            if column == "progress":
                self._bar(line, row, width, state_style)
            elif column == "stage":
                line.append(_pad(shorten(row.label, width), width, column))
            else:
                style = state_style if column == "state" else \
                    ("red" if column == "fail" and row.failed else "")
                line.append(_pad(cells[column], width, column), style=style)
            line.append(" " * GAP)
        line.rstrip()
        return line

    @staticmethod
    def _bar(line: Any, row: StageRow, width: int, state_style: str) -> None:
        total = row.total
        if total:
            filled = min(width, row.processed * width // total)
            # The failed part of the bar is red, so a stage of failures never looks done.
            bad = min(filled, -(-row.failed * width // total))
        else:
            # An empty stage that has ended is complete; an unknown total shows nothing yet.
            filled, bad = (width if row.state == "done" else 0), 0
        good_style = STATE_STYLE["done"] if row.state == "partial" else state_style
        line.append("█" * (filled - bad), style=good_style if row.state != "waiting" else "")
        line.append("█" * bad, style=STATE_STYLE["failed"])
        line.append("░" * (width - filled), style="dim")


def _pad(text: str, width: int, column: str) -> str:
    return text.rjust(width) if column in RIGHT else text.ljust(width)
