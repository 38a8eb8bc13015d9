"""CSV inputs (SPEC 1.2): the numbers in one column of one or more CSV files.

Files are read as UTF-8 (an Excel BOM dropped) with the ``csv`` module; blank
rows carry no item. A bad cell is reported at its own line and column, even
inside a quoted field that spans lines: :class:`CsvProblem` carries that place,
and :func:`runner.files.inputs.expand` turns it into the input's FlowError.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Iterable
from typing import Any

from runner.errors import Pos, did_you_mean
from runner.files.globs import glob_files
from runner.model import CsvSource


class CsvProblem(Exception):
    """What is wrong with a CSV input; ``pos`` None means the input's own place."""

    def __init__(self, message: str, hint: str = "", pos: Pos | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.pos = pos


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
    t = text.strip()
    try:
        return int(t)
    except ValueError:
        pass
    try:
        v = float(t)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def csv_values(src: CsvSource, workdir: str, exclude_paths: frozenset[str] = frozenset(),
               skip: Callable[[str], bool] | None = None) -> tuple[Any, ...]:
    """The numbers in ``src``'s column, file after file; relative paths from ``workdir``.

    Raises :class:`CsvProblem` for a missing or unreadable file, a bad column or a
    cell that is not a finite number.
    """
    if src.glob is not None:
        found, _ = glob_files([src.glob], workdir, (), exclude_paths, skip)
        if not found:
            raise CsvProblem(f"no file matches {src.glob}")
        files = [p for p, _ in found]
    else:
        files = [os.path.normpath(os.path.join(workdir, src.path or ""))]
    if isinstance(src.column, str) and not src.header:
        raise CsvProblem(f"column {src.column!r} is a name, which needs header: true",
                         "give the column's 0-based index, or set header: true")
    if isinstance(src.column, int) and (isinstance(src.column, bool) or src.column < 0):
        raise CsvProblem(f"column must be a name or a 0-based index, not {src.column!r}")
    values: list[Any] = []
    for path in files:
        _read_csv(src, path, workdir, values)
    return tuple(values)


def _read_csv(src: CsvSource, path: str, workdir: str, values: list[Any]) -> None:
    shown = path[len(workdir) + 1:] if path.startswith(workdir + "/") else path
    try:
        fh = open(path, encoding="utf-8-sig", newline="")  # utf-8-sig: Excel's BOM
    except FileNotFoundError:
        raise CsvProblem(f"no such file: {shown}") from None
    except OSError as exc:
        raise CsvProblem(f"cannot read {shown}: {exc.strerror}") from None
    with fh:
        lines = _Lines(fh)
        reader = csv.reader(lines)
        col: int | None = src.column if isinstance(src.column, int) else None
        need_header = src.header
        while True:
            first = reader.line_num + 1
            lines.record = []
            try:
                row = next(reader)
            except StopIteration:
                break
            except UnicodeDecodeError:
                raise CsvProblem(f"{shown} is not UTF-8 text") from None
            except csv.Error as exc:
                raise CsvProblem(f"bad CSV: {exc}", pos=Pos(shown, first, 1)) from None
            if not row or all(not c.strip() for c in row):
                continue  # blank lines carry no item
            if need_header:
                need_header = False
                if isinstance(src.column, str):
                    col = _column_index(src.column, row, shown)
                continue
            assert col is not None
            if col >= len(row):
                raise CsvProblem(f"row has {len(row)} columns; column {col} asked for",
                                 pos=Pos(shown, first, 1))
            v = _number(row[col])
            if v is None:
                line, c = _cell_pos(lines.record, first, col)
                what = "empty cell" if not row[col].strip() else f"not a number: {row[col]!r}"
                raise CsvProblem(what, pos=Pos(shown, line, c))
            values.append(v)
    if need_header and isinstance(src.column, str):
        raise CsvProblem(f"{shown} is empty: no header with column {src.column!r}")


def _column_index(name: str, header: list[str], shown: str) -> int:
    names = [h.strip() for h in header]
    if name in header:
        return header.index(name)
    if name.strip() in names:
        return names.index(name.strip())
    hint = "columns: " + ", ".join(repr(n) for n in names)
    raise CsvProblem(f"no column {name!r} in {shown}{did_you_mean(name, names)}", hint)
