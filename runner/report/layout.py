"""Which columns of the live table fit a terminal, and how wide each is.

The table never lets the terminal cut a cell: it decides here what to leave out.
What gives way, in order: the bar shrinks, a long stage name loses its middle
(``orient→…→save``), the bar goes, then the columns a user misses least (``/s``,
``time``, ``mode``, ``eta``, ``state``). The counts (done/total, fail, skip) are
never cut nor left out. Plain Python, no rich: tests call :func:`fit` directly.
"""

from __future__ import annotations

from dataclasses import dataclass

COLUMNS = ("stage", "mode", "progress", "done", "fail", "skip", "/s", "time", "eta", "state")
RIGHT = frozenset({"done", "fail", "skip", "/s", "time", "eta"})  # numbers line up right
BAR = 16  # the bar's full length
GAP = 2  # spaces between two columns; one more at the left edge
# What gives way, first to last: ("shrink", column, down to) or ("drop", column).
YIELDS: tuple[tuple[str, str, int], ...] = (
    ("shrink", "progress", 6),
    ("shrink", "stage", 20),
    ("drop", "progress", 0),
    ("shrink", "stage", 16),
    ("drop", "/s", 0),
    ("drop", "time", 0),
    ("drop", "mode", 0),
    ("shrink", "stage", 12),
    ("drop", "eta", 0),
    ("shrink", "stage", 8),
    ("drop", "state", 0),
    ("shrink", "stage", 3),
)


@dataclass(frozen=True)
class Layout:
    """The columns shown, in order, and the width of each (the bar's is its length)."""

    columns: tuple[str, ...]
    widths: tuple[int, ...]

    def width(self, column: str) -> int:
        """The width of ``column``; 0 if it is left out."""
        return self.widths[self.columns.index(column)] if column in self.columns else 0

    @property
    def line(self) -> int:
        """How wide a row is: the columns, the gaps and the left edge."""
        return 1 + sum(self.widths) + GAP * (len(self.widths) - 1)


def fit(room: int, needs: dict[str, int]) -> Layout:
    """The layout of a table ``room`` characters wide whose columns need ``needs``.

    ``needs`` holds each column's widest cell, its header included (the bar's need
    is :data:`BAR`). Yields from :data:`YIELDS` are taken in order until the rows fit;
    then any room left goes back to the stage name and the bar.
    """
    widths = {c: max(1, needs.get(c, len(c))) for c in COLUMNS}
    wanted = dict(widths)

    def line() -> int:
        return 1 + sum(widths.values()) + GAP * (len(widths) - 1)

    for how, column, floor in YIELDS:
        excess = line() - room
        if excess <= 0:
            break
        if column not in widths:
            continue
        if how == "drop":
            del widths[column]
        else:
            widths[column] = max(min(widths[column], floor), widths[column] - excess)
    spare = room - line()
    for column in ("stage", "progress"):
        if spare > 0 and column in widths:
            more = min(spare, wanted[column] - widths[column])
            widths[column] += more
            spare -= more
    shown = tuple(c for c in COLUMNS if c in widths)
    return Layout(shown, tuple(widths[c] for c in shown))


def shorten(label: str, width: int, sep: str = "→") -> str:
    """``label`` in at most ``width`` characters, its middle given up first.

    A fused stage keeps its first and last steps and as many of the others as fit
    (``orient→shrink→…→save``, then ``orient→…→save``); a label still too long keeps
    its two ends (``orie…save``).
    """
    if len(label) <= width:
        return label
    parts = label.split(sep)
    if len(parts) > 2:
        for keep in range(len(parts) - 3, -1, -1):  # how many middle steps stay
            head, tail = parts[:1 + (keep + 1) // 2], parts[len(parts) - 1 - keep // 2:]
            short = sep.join([*head, "…", *tail])
            if len(short) <= width:
                return short
    if width <= 1:
        return "…"[:width]
    left = width // 2
    right = width - 1 - left
    return label[:left] + "…" + (label[-right:] if right else "")
