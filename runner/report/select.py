"""Which reporter a run gets: the live table, plain lines or JSON Lines.

The CLI asks :func:`is_terminal` about stdout and honours ``--no-live`` and
``--json``; :func:`make_reporter` builds the one it chose. Importing this
module imports neither rich nor the reporters: each is imported when chosen,
so ``flow validate`` starts fast.
"""

from __future__ import annotations

import os
from typing import Any, Literal, TextIO

from runner.report.events import Reporter

Kind = Literal["live", "plain", "json"]


def is_terminal(stream: Any) -> bool:
    """True when ``stream`` is an interactive terminal that can redraw a table.

    A pipe, a file, a closed stream or ``TERM=dumb`` get plain lines instead.
    """
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
    return tty and os.environ.get("TERM", "") != "dumb"


def choose_kind(stream: Any, json_lines: bool = False, no_live: bool = False) -> Kind:
    """The reporter kind for the command line's ``--json`` / ``--no-live`` and the stream."""
    if json_lines:
        return "json"
    if no_live or not is_terminal(stream):
        return "plain"
    return "live"


def make_reporter(kind: Kind, stream: TextIO, verbose: bool = False, *,
                  console: Any = None) -> Reporter:
    """A reporter of ``kind`` writing to ``stream``.

    ``console`` (a rich Console) is for the live table only and wins over
    ``stream``; tests pass one that records to a string.
    """
    if kind == "live":
        from runner.report.live import LiveReporter

        return LiveReporter(stream, verbose, console=console)
    if kind == "plain":
        from runner.report.plain import PlainReporter

        return PlainReporter(stream, verbose)
    if kind == "json":
        from runner.report.plain import JsonReporter

        return JsonReporter(stream, verbose)
    raise ValueError(f"unknown reporter kind {kind!r}: expected live, plain or json")
