"""The rich live table: a row per stage, redrawn a few times a second.

``handle()`` only updates a :class:`~runner.report.board.Board` (plain
attribute stores); rich's own refresh thread calls :meth:`LiveReporter.render`
to draw it, so thousands of progress events a second cost the engine next to
nothing. rich is imported inside the class only: importing this module must
stay cheap, and nothing else in flow may import rich.

The first few failed items are printed above the table as they happen; the
rest are counted under it and listed by the summary at the end.
"""

from __future__ import annotations

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
)
from runner.report.events import Event, ItemFailed, StageProgress

BAR_WIDTH = 16
# Colours by state; waiting rows are dim so the eye goes to what moves.
STATE_STYLE = {
    "waiting": "dim",
    "running": "cyan",
    "done": "green",
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
                 console: Any = None, refresh_per_second: float = 6.0,
                 failures_shown: int = 5) -> None:
        from rich.console import Console

        self.console = console if console is not None else Console(file=stream)
        self.verbose = verbose
        self.refresh_per_second = refresh_per_second
        self.failures_shown = failures_shown  # failed items printed above the table
        self.board = Board()
        self._printed = 0
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
        if kind is ItemFailed and self._printed < self.failures_shown:
            self._printed += 1
            self._print_failure(event)

    def close(self) -> None:
        """Stop the table; its last state stays on screen."""
        if self._closed:
            return
        self._closed = True
        if self._live is not None:
            self._live.stop()  # draws once more: the final counts stay on screen
            self._live = None

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

    def _print_failure(self, event: ItemFailed) -> None:
        from rich.text import Text

        line = "failed: " + failure_line(event.item, event.step, event.reason, event.attempts)
        # Text, not markup: item paths may hold "[" and "]".
        self.console.print(Text(line, style="red", no_wrap=True, overflow="ellipsis"))

    def render(self) -> Any:
        """The title row, the stage table and, if need be, a count of unprinted failures."""
        from rich.console import Group
        from rich.measure import Measurement
        from rich.table import Table
        from rich.text import Text

        board = self.board
        rows = list(board.rows)  # a copy: the engine's thread may add a row meanwhile
        now = board.now()

        table = Table(box=None, show_edge=False, pad_edge=True, padding=(0, 1),
                      header_style="bold")
        table.add_column("stage", no_wrap=True, overflow="ellipsis", max_width=40)
        table.add_column("mode", no_wrap=True)
        table.add_column("progress", no_wrap=True, width=BAR_WIDTH)
        table.add_column("done", justify="right", no_wrap=True)
        table.add_column("fail", justify="right", no_wrap=True)
        table.add_column("skip", justify="right", no_wrap=True)
        table.add_column("/s", justify="right", no_wrap=True)
        table.add_column("time", justify="right", no_wrap=True)
        table.add_column("eta", justify="right", no_wrap=True)
        table.add_column("state", no_wrap=True)
        for row in rows:
            table.add_row(*self._cells(row, now, Text))

        n = len(rows)
        title = f"{board.workflow or 'flow'} · {n} stage{'s' * (n != 1)} · " \
                f"{board.workers} worker{'s' * (board.workers != 1)}"
        if board.executor and board.executor != "local":
            title += f" · {board.executor}"
        width = Measurement.get(self.console, self.console.options, table).maximum
        head = Table(box=None, show_header=False, show_edge=False, pad_edge=True,
                     padding=(0, 1), width=max(width, len(title) + 10))
        head.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        head.add_column(justify="right", no_wrap=True)
        head.add_row(Text(title, style="bold"), Text(fmt_clock(board.elapsed())))

        parts: list[Any] = [head, table]
        for (stage, item), (since, typical) in list(board.stalled.items())[:3]:
            usual = f" (a typical item: {fmt_seconds(typical)})" if typical is not None else ""
            parts.append(Text(f" {item} in {board.row(stage).label}: running for "
                              f"{fmt_duration(now - since)}{usual}", style="yellow",
                              no_wrap=True, overflow="ellipsis"))
        hidden = board.failures - self._printed
        if hidden > 0:
            parts.append(Text(f" … {hidden} more failed item{'s' * (hidden != 1)}, "
                              "listed at the end", style="red"))
        return Group(*parts)

    def _cells(self, row: StageRow, now: float, Text: Any) -> tuple[Any, ...]:
        state_style = STATE_STYLE.get(row.state, "")
        total = row.total
        if total:
            filled = min(BAR_WIDTH, row.processed * BAR_WIDTH // total)
        else:
            # An empty stage that has ended is complete; an unknown total shows nothing yet.
            filled = BAR_WIDTH if row.state == "done" else 0
        bar = Text()
        bar.append("█" * filled, style=state_style if row.state != "waiting" else "")
        bar.append("░" * (BAR_WIDTH - filled), style="dim")
        rate = row.rate(now) if row.state != "waiting" else None
        return (
            Text(row.label),
            Text(fmt_mode(row.mode, row.workers)),
            bar,
            Text(f"{row.done}/{fmt_total(total)}"),
            Text(str(row.failed), style="red" if row.failed else ""),
            Text(str(row.skipped)),
            Text(fmt_rate(rate)),
            Text(fmt_duration(row.elapsed(now))),
            Text(fmt_duration(row.eta(now))),
            Text(row.state, style=state_style),
        )
