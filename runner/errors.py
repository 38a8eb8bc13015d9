"""Errors a user can cause, kept apart from failed items and internal faults.

Every problem with a workflow file is a :class:`Problem` (file, line, column,
path, message); a :class:`FlowError` carries one or more of them so that
validation reports all errors at once. Any other exception that reaches the
command line is a bug in flow (exit 3). Only ``cli.py`` turns these into
printed text and exit codes.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

# Exit codes (SPEC section 3).
EXIT_OK = 0
EXIT_FAILED_ITEMS = 1
EXIT_INVALID = 2  # the user's mistake: workflow, command line, missing inputs
EXIT_INTERNAL = 3  # a bug in flow itself
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Pos:
    """A place in a file: 1-based line and column. ``line == 0`` means unknown."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.col}"
        return self.file


@dataclass(frozen=True)
class Problem:
    """One thing wrong with what the user wrote."""

    pos: Pos
    path: str  # where in the document, e.g. "steps[2].with"; "" for the whole file
    message: str
    hint: str = ""  # extra line, e.g. "quote the value: format: 'no'"

    def headline(self) -> str:
        """``file:line:col: error: path: message``: the first line the user sees."""
        where = f"{self.path}: " if self.path else ""
        return f"{self.pos}: error: {where}{self.message}"

    def render(self, source_lines: list[str] | None = None) -> str:
        """The headline, the offending line under it with a caret, and the hint."""
        out = [self.headline()]
        if source_lines and 0 < self.pos.line <= len(source_lines):
            text, col = _window(source_lines[self.pos.line - 1].rstrip("\n"), self.pos.col)
            out.append(f"    {text}")
            if col:
                out.append("    " + " " * (col - 1) + "^")
        if self.hint:
            out.append(f"    hint: {self.hint}")
        return "\n".join(out)


def _window(text: str, col: int, width: int = 120) -> tuple[str, int]:
    """At most ``width`` characters of a long line, around ``col``; the caret's new column."""
    if len(text) <= width:
        return text, col
    start = max(0, min(col - 1 - width // 2, len(text) - width))
    head = "…" if start else ""
    tail = "…" if start + width < len(text) else ""
    return head + text[start:start + width] + tail, (col - start + len(head)) if col else 0


@dataclass
class FlowError(Exception):
    """The user's workflow, command line or inputs are wrong. Exit code 2 unless set."""

    problems: list[Problem] = field(default_factory=list)
    exit_code: int = EXIT_INVALID

    def __post_init__(self) -> None:
        super().__init__(self.summary())

    @classmethod
    def single(cls, message: str, file: str = "", line: int = 0, col: int = 0,
               path: str = "", hint: str = "") -> FlowError:
        """A FlowError with one problem."""
        return cls([Problem(Pos(file, line, col), path, message, hint)])

    def summary(self) -> str:
        """Every problem's headline, one per line."""
        return "\n".join(p.headline() for p in self.problems)

    def __str__(self) -> str:
        return self.summary()


class Collector:
    """Gathers problems so validation can report every error at once."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, pos: Pos, path: str, message: str, hint: str = "") -> None:
        """Record one problem."""
        self.problems.append(Problem(pos, path, message, hint))

    def extend(self, problems: Iterable[Problem]) -> None:
        """Record problems found elsewhere."""
        self.problems.extend(problems)

    def raise_if_any(self) -> None:
        """Raise a FlowError holding every problem, sorted by place, if there are any."""
        if self.problems:
            ordered = sorted(self.problems, key=lambda p: (p.pos.file, p.pos.line, p.pos.col))
            raise FlowError(ordered)


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice most like ``word`` (a likely misspelling of it), or None."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    near = closest(word, choices)
    return f" (did you mean '{near}'?)" if near is not None else ""


def os_reason(exc: OSError) -> str:
    """Why a file could not be written, in a few words: "no space left on device"
    (the system's words for its error number, without the file's name)."""
    why = os.strerror(exc.errno) if exc.errno else str(exc)
    return why[:1].lower() + why[1:]
