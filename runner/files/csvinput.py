"""CSV inputs (SPEC 1.2): the numbers in one column of one or more CSV files.

Files are read as UTF-8 (an Excel BOM dropped) with the ``csv`` module; blank
rows carry no item. :func:`scan_csv` reads every file once before the run,
checking each cell and counting them without keeping any; the run reads them
again, lazily (:meth:`CsvColumn.values`), so a CSV of any size streams. Every bad
cell is reported at once, each at its own line and column, even inside a quoted
field that spans lines: :class:`CsvProblem` carries that place, and
:func:`runner.files.inputs.expand` turns them into the input's FlowError.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from runner.errors import Pos, did_you_mean
from runner.files.globs import glob_files
from runner.model import CsvSource

MAX_LISTED = 100  # bad cells of one input listed one by one; past that, counted


class CsvProblem(Exception):
    """What is wrong with a CSV input; ``pos`` None means the input's own place."""

    def __init__(self, message: str, hint: str = "", pos: Pos | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.pos = pos


class CsvProblems(Exception):
    """Every bad cell, row and file of one CSV input, found in one reading."""

    def __init__(self, problems: list[CsvProblem]) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = problems


class _Lines:
    """Iterates a file's lines and keeps the ones read for the current record,
    so an error can point at the cell's own line and column."""

    def __init__(self, fh: Iterable[str]) -> None:
        self._it = iter(fh)
        self.record: list[str] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._it)
        self.record.append(line)
        return line


def _cell_pos(record: list[str], first_line: int, field: int) -> tuple[int, int]:
    """(line, column), 1-based, where field number ``field`` of a record starts."""
    line, col, count, quoted = first_line, 1, 0, False
    for text in record:
        for ch in text:
            if count == field:
                return line, col
            if ch == '"':
                quoted = not quoted  # "" inside quotes toggles twice: no change
            elif ch == "," and not quoted:
                count += 1
            if ch == "\n":
                line, col = line + 1, 1
            else:
                col += 1
    return line, col


def _number(text: str) -> int | float | None:
    try:
        return int(text)  # int() and float() allow the spaces around a cell
    except ValueError:
        pass
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


@dataclass(frozen=True)
class CsvColumn:
    """A checked CSV input: its files in order and how many numbers they hold.

    The numbers themselves are not kept: :meth:`values` reads them again, lazily,
    so a CSV of any size costs the parent one row at a time.
    """

    src: CsvSource
    files: tuple[tuple[str, str], ...]  # (path, as shown), in order
    count: int

    def values(self) -> Iterator[int | float]:
        """The numbers, file after file, at most :attr:`count` of them. A file that no
        longer reads as it did when checked raises :class:`CsvProblem`."""
        left = self.count

        def changed(p: CsvProblem) -> None:
            raise CsvProblem(f"{p.message} (the file changed after it was checked)",
                             p.hint, p.pos)

        for path, shown in self.files:
            try:
                for v in _fast(self.src, path, shown):
                    if left <= 0:
                        return
                    left -= 1
                    yield v
            except _Bad:
                for _ in _read(self.src, path, shown, changed):
                    pass  # raises at the problem, with its place
                raise CsvProblem(f"{shown} changed after it was checked") from None


class _Tally:
    """Problems of one CSV input: the first MAX_LISTED in full, then only counted."""

    def __init__(self) -> None:
        self.problems: list[CsvProblem] = []
        self.more = 0

    def add(self, p: CsvProblem) -> None:
        if len(self.problems) < MAX_LISTED:
            self.problems.append(p)
        else:
            self.more += 1

    def raise_if_any(self) -> None:
        if self.more:
            self.problems.append(CsvProblem(f"and {self.more} more bad cells or rows"))
        if self.problems:
            raise CsvProblems(self.problems)


def scan_csv(src: CsvSource, workdir: str, exclude_paths: frozenset[str] = frozenset(),
             skip: Callable[[str], bool] | None = None) -> CsvColumn:
    """Check every cell of ``src``'s column and count them, keeping none; relative paths
    from ``workdir``.

    Raises :class:`CsvProblems` with every bad cell (and row, and file) at once, or
    :class:`CsvProblem` when the input as a whole is wrong (no file, a bad column).
    """
    if src.glob is not None:
        found, _ = glob_files([src.glob], workdir, (), exclude_paths, skip)
        if not found:
            raise CsvProblem(f"no file matches {src.glob}")
        paths = [p for p, _ in found]
    else:
        paths = [os.path.normpath(os.path.join(workdir, src.path or ""))]
    if isinstance(src.column, str) and not src.header:
        raise CsvProblem(f"column {src.column!r} is a name, which needs header: true",
                         "give the column's 0-based index, or set header: true")
    if isinstance(src.column, int) and (isinstance(src.column, bool) or src.column < 0):
        raise CsvProblem(f"column must be a name or a 0-based index, not {src.column!r}")
    tally = _Tally()
    files = tuple((p, p[len(workdir) + 1:] if p.startswith(workdir + "/") else p)
                  for p in paths)
    count = 0
    for path, shown in files:
        try:
            count += sum(1 for _ in _fast(src, path, shown))
        except _Bad:  # read it again, carefully: every problem, each at its place
            count += sum(1 for _ in _read(src, path, shown, tally.add))
    if len(tally.problems) == 1 and tally.problems[0].pos is None and not tally.more:
        raise tally.problems[0]  # about the input as a whole: said at the input
    tally.raise_if_any()
    return CsvColumn(src, files, count)


class _Bad(Exception):
    """The fast reading met something that is not a number: read carefully instead."""


def _fast(src: CsvSource, path: str, shown: str) -> Iterator[int | float]:
    """The numbers of one file's column, read at the csv module's speed; raises _Bad at
    the first thing that is not a number (or a blank row), which :func:`_read` explains."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            col = src.column
            if src.header:
                row = next((r for r in reader if any(c.strip() for c in r)), None)
                if row is None:
                    raise _Bad
                if isinstance(src.column, str):
                    col = _column_index(src.column, row, shown)
            assert isinstance(col, int)
            for row in reader:
                try:
                    cell = row[col]
                except IndexError:
                    if any(c.strip() for c in row):
                        raise _Bad from None
                    continue  # a blank row
                try:  # a dot: a float; else most likely an int (exceptions cost ~1 µs)
                    v: int | float | None = float(cell) if "." in cell else int(cell)
                except ValueError:
                    v = None
                if v is None or not -math.inf < v < math.inf:
                    v = _number(cell)
                    if v is None:
                        if any(c.strip() for c in row):
                            raise _Bad from None
                        continue
                yield v
    except (OSError, UnicodeDecodeError, csv.Error, CsvProblem):
        raise _Bad from None


def _read(src: CsvSource, path: str, shown: str,
          report: Callable[[CsvProblem], None]) -> Iterator[int | float]:
    """The numbers of one file's column; each bad cell or row goes to ``report`` and is
    left out; a file that cannot be read past a point is reported and read no further."""
    try:
        fh = open(path, encoding="utf-8-sig", newline="")  # utf-8-sig: Excel's BOM
    except FileNotFoundError:
        report(CsvProblem(f"no such file: {shown}"))
        return
    except OSError as exc:
        report(CsvProblem(f"cannot read {shown}: {exc.strerror}"))
        return
    with fh:
        lines = _Lines(fh)
        reader = csv.reader(lines)
        col: int | None = src.column if isinstance(src.column, int) else None
        need_header = src.header
        last = 0  # the line the previous record ended on
        try:
            for row in reader:
                first, last = last + 1, reader.line_num
                record, lines.record = lines.record, []
                if not row or all(not c.strip() for c in row):
                    continue  # blank lines carry no item
                if need_header:
                    need_header = False
                    if isinstance(src.column, str):
                        col = _column_index(src.column, row, shown)
                    continue
                assert col is not None
                if col >= len(row):
                    report(CsvProblem(f"row has {len(row)} columns; column {col} asked for",
                                      pos=Pos(shown, first, 1)))
                    continue
                v = _number(row[col])
                if v is None:
                    line, c = _cell_pos(record, first, col)
                    what = ("empty cell" if not row[col].strip()
                            else f"not a number: {row[col]!r}")
                    report(CsvProblem(what, pos=Pos(shown, line, c)))
                    continue
                yield v
        except UnicodeDecodeError:
            report(CsvProblem(f"{shown} is not UTF-8 text", pos=Pos(shown, last + 1, 1)))
            return
        except csv.Error as exc:
            report(CsvProblem(f"bad CSV: {exc}", pos=Pos(shown, last + 1, 1)))
            return
        except CsvProblem as p:  # no such column: nothing more to read in this file
            report(p)
            return
    if need_header and isinstance(src.column, str):
        report(CsvProblem(f"{shown} is empty: no header with column {src.column!r}"))


def _column_index(name: str, header: list[str], shown: str) -> int:
    names = [h.strip() for h in header]
    if name in header:
        return header.index(name)
    if name.strip() in names:
        return names.index(name.strip())
    hint = "columns: " + ", ".join(repr(n) for n in names)
    raise CsvProblem(f"no column {name!r} in {shown}{did_you_mean(name, names)}", hint)
