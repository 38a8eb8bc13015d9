"""A workflow's inputs turned into items (SPEC 1.2, 1.4).

:func:`expand` turns one :class:`runner.model.Input` into an :class:`ItemSource`:
how many items there are, a lazy iterator over them and, for ranges, the span
itself so the engine can ship ``(start, stop, step)`` instead of millions of
pickled numbers.

Globs are walked with ``os.scandir``, never ``glob.glob``: symlinks are
followed, but each real directory is entered once per pattern state (so a link
loop ends) and each real file is yielded once (dedupe by real path).
Hidden names follow the shell's rule: ``*``, ``?`` and ``**`` never match a
name starting with ``.``; a pattern component that itself starts with ``.``
(``.cache``, ``.*.jpg``) does, and the fixed prefix before the first wildcard
is taken as written. Anything under a ``.flow/`` folder is never an input.
"""

from __future__ import annotations

import csv
import fnmatch
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from runner.errors import FlowError, Pos, Problem, did_you_mean
from runner.model import CsvSource, GlobSource, Input, RangeSource, ValuesSource

_MAGIC = re.compile(r"[*?\[]")
_STARSTAR = "**"


@dataclass(frozen=True)
class Item:
    """A value plus where it came from.

    ``source`` is the absolute path of the file the item came from (None for
    numbers and strings); ``root`` is the absolute fixed prefix of the glob that
    found it, the base of ``{relpath}``.
    """

    index: int
    value: Any
    source: str | None = None
    root: str | None = None

    def fields(self) -> dict[str, str]:
        """The per-item template fields: stem, name, ext, parent, relpath, index."""
        if self.source is None:
            text = str(self.value)
            return {"stem": text, "name": text, "ext": "", "parent": "",
                    "relpath": text, "index": str(self.index)}
        folder, name = os.path.split(self.source)
        stem, ext = os.path.splitext(name)
        rel = stem
        if self.root is not None:
            below = os.path.relpath(self.source, self.root)
            if not below.startswith(".."):  # a source outside its root keeps the stem
                rel = os.path.splitext(below)[0].replace(os.sep, "/")
        return {"stem": stem, "name": name, "ext": ext, "parent": os.path.basename(folder),
                "relpath": rel, "index": str(self.index)}


@dataclass(frozen=True)
class ItemSource:
    """The items of one input: a count, a lazy iterator, and a span for ranges.

    ``entries`` holds the values (``values``/``csv``) or ``(path, root)`` pairs
    (``glob``); a range keeps only its span, so 20 million items cost nothing
    until they are iterated.
    """

    name: str
    kind: str  # "glob" | "range" | "values" | "csv"
    count: int
    span: tuple[Any, Any, Any] | None = None
    entries: tuple[Any, ...] = ()

    def items(self) -> Iterator[Item]:
        """The items, in order, made one at a time."""
        if self.span is not None:
            for i, v in enumerate(span_values(self.span)):
                yield Item(i, v)
        elif self.kind == "glob":
            for i, (path, root) in enumerate(self.entries):
                yield Item(i, path, path, root)
        else:
            for i, v in enumerate(self.entries):
                yield Item(i, v)

    def __len__(self) -> int:
        return self.count


def span_count(span: tuple[Any, Any, Any]) -> int:
    """How many numbers a span holds; the same rule as ``execute.base.range_of``."""
    start, stop, step = span
    if all(float(x).is_integer() for x in span):
        return len(range(int(start), int(stop), int(step)))
    return max(0, int(-(-(stop - start) // step)))


def span_values(span: tuple[Any, Any, Any]) -> Iterator[Any]:
    """The span's numbers, lazily: ints when start, stop and step are integral."""
    start, stop, step = span
    if all(float(x).is_integer() for x in span):
        return iter(range(int(start), int(stop), int(step)))
    return (start + i * step for i in range(span_count(span)))


def expand(inp: Input, workdir: str,
           exclude_paths: frozenset[str] | Callable[[str], bool] = frozenset(),
           skip: Callable[[str], bool] | None = None) -> ItemSource:
    """The items of ``inp``; relative paths resolve against ``workdir``.

    ``exclude_paths`` are absolute paths this workflow writes; ``skip(path)``
    (e.g. ``runner.outputs.could_write(...)``) drops any other file the
    workflow's templates could write. Neither is ever taken as an input. A
    callable given as ``exclude_paths`` is taken as ``skip``.
    Raises FlowError (at the input's position) for a glob without a match, a
    bad range, or a bad CSV file.
    """
    workdir = os.path.abspath(workdir)
    if callable(exclude_paths):
        skip = _either(exclude_paths, skip)
        exclude_paths = frozenset()
    src = inp.source
    if isinstance(src, RangeSource):
        return _range(inp, src)
    if isinstance(src, ValuesSource):
        return ItemSource(inp.name, "values", len(src.values), entries=tuple(src.values))
    if isinstance(src, GlobSource):
        found, dropped = glob_files(src.patterns, workdir, src.exclude, exclude_paths, skip)
        if not found and not src.allow_empty:
            raise _no_match(inp, src.patterns, workdir, dropped)
        return ItemSource(inp.name, "glob", len(found), entries=tuple(found))
    if isinstance(src, CsvSource):
        values = _csv_values(inp, src, workdir, exclude_paths, skip)
        return ItemSource(inp.name, "csv", len(values), entries=values)
    raise FlowError.single(f"unknown input kind {type(src).__name__}", inp.pos.file,
                           inp.pos.line, inp.pos.col, f"inputs.{inp.name}")


def _either(a: Callable[[str], bool], b: Callable[[str], bool] | None) -> Callable[[str], bool]:
    return a if b is None else (lambda path: a(path) or b(path))


def _error(inp: Input, message: str, hint: str = "", pos: Pos | None = None) -> FlowError:
    return FlowError([Problem(pos or inp.pos, f"inputs.{inp.name}", message, hint)])


def _range(inp: Input, src: RangeSource) -> ItemSource:
    span = (src.start, src.stop, src.step)
    for key, v in zip(("start", "stop", "step"), span, strict=True):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise _error(inp, f"range {key} must be a finite number, not {v!r}")
    if src.step == 0:
        raise _error(inp, "range step must not be 0")
    return ItemSource(inp.name, "range", span_count(span), span=span)


# ---------------------------------------------------------------- glob


def glob_files(patterns: Iterable[str], workdir: str, exclude: Iterable[str] = (),
               exclude_paths: frozenset[str] = frozenset(),
               skip: Callable[[str], bool] | None = None) -> tuple[list[tuple[str, str]], int]:
    """Regular files matching any pattern, as sorted ``(path, root)`` pairs.

    Also returns how many matching files were dropped by ``exclude``,
    ``exclude_paths`` or ``skip`` (for a helpful "no match" message).
    Each real file appears once: of several names for it, the first in sort order.
    """
    workdir = os.path.abspath(workdir)
    excluders = [(os.path.isabs(p), re.compile(glob_regex(p))) for p in exclude]
    excluded = {os.path.normpath(p) for p in exclude_paths}
    prefix = workdir.rstrip("/") + "/"

    def dropped(path: str, real: str | None = None) -> bool:
        rel = path[len(prefix):] if path.startswith(prefix) else path
        if any(rx.fullmatch(path if absolute else rel) for absolute, rx in excluders):
            return True
        if path in excluded or (real is not None and real in excluded):
            return True
        return real is not None and skip is not None and (skip(path) or skip(real))

    found: dict[str, tuple[str, str]] = {}  # path -> (root, real path)
    n_dropped = 0
    for pattern in patterns:
        for path, real, root in _walk_pattern(pattern, workdir, dropped):
            if path in found:
                continue
            if dropped(path, real):
                n_dropped += 1
                continue
            found[path] = (root, real)
    out: list[tuple[str, str]] = []
    seen_real: set[str] = set()
    for path in sorted(found, key=lambda p: p.split("/")):
        root, real = found[path]
        if real not in seen_real:
            seen_real.add(real)
            out.append((path, root))
    return out, n_dropped


def _split_pattern(pattern: str, workdir: str) -> tuple[str, list[str]]:
    """The absolute fixed root and the wildcard components after it."""
    base = "/" if os.path.isabs(pattern) else workdir
    comps = [c for c in pattern.replace(os.sep, "/").split("/") if c not in ("", ".")]
    fixed: list[str] = []
    for c in comps:
        if _MAGIC.search(c):
            break
        fixed.append(c)
    rest: list[str] = []
    for c in comps[len(fixed):]:
        if not (c == _STARSTAR and rest and rest[-1] == _STARSTAR):  # a/**/**/b is a/**/b
            rest.append(c)
    return os.path.normpath(os.path.join(base, *fixed)), rest


def _in_flow_dir(path: str) -> bool:
    return "/.flow/" in f"/{path}/"


def _walk_pattern(pattern: str, workdir: str,
                  dropped: Callable[[str], bool]) -> Iterator[tuple[str, str, str]]:
    """``(path, realpath, root)`` of each regular file ``pattern`` matches."""
    root, comps = _split_pattern(pattern, workdir)
    rel_root = "" if root == workdir else (
        root[len(workdir) + 1:] if root.startswith(workdir + "/") else root)
    if _in_flow_dir(rel_root):
        return
    if not comps:  # no wildcard: the pattern names one file
        if os.path.isfile(root):
            yield root, os.path.realpath(root), os.path.dirname(root)
        return
    last = len(comps) - 1
    match = [None if c == _STARSTAR else re.compile(fnmatch.translate(c)).match for c in comps]
    dotted = [c.startswith(".") for c in comps]  # may match hidden names

    def closure(states: set[int]) -> frozenset[int]:
        # "**" also matches no folder at all: the next component applies here too.
        more = {i + 1 for i in states if match[i] is None and i < last}
        return frozenset(states | more)

    try:
        st = os.stat(root)
    except OSError:
        return
    start = closure({0})
    visited = {(st.st_dev, st.st_ino, start)}
    stack = [(root, os.path.realpath(root), start)]
    while stack:
        folder, real_folder, states = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:  # unreadable or vanished: nothing to take from it
            continue
        for e in entries:
            name = e.name
            hidden = name[0] == "."
            try:
                is_dir = e.is_dir()  # follows symlinks
            except OSError:
                continue
            if is_dir:
                if name == ".flow":
                    continue
                nxt: set[int] = set()
                for i in states:
                    m = match[i]
                    if m is None:
                        if not hidden:
                            nxt.add(i)
                    elif i < last and (dotted[i] or not hidden) and m(name):
                        nxt.add(i + 1)
                if not nxt or dropped(e.path):
                    continue
                key_states = closure(nxt)
                try:
                    dst = e.stat()
                except OSError:
                    continue
                key = (dst.st_dev, dst.st_ino, key_states)
                if key in visited:  # a symlink loop, or a folder seen by another name
                    continue
                visited.add(key)
                real = os.path.realpath(e.path) if e.is_symlink() else f"{real_folder}/{name}"
                stack.append((e.path, real, key_states))
                continue
            ok = False
            for i in states:
                if i != last:
                    continue
                m = match[i]
                ok = not hidden if m is None else (dotted[i] or not hidden) and bool(m(name))
                if ok:
                    break
            try:
                if not ok or not e.is_file():  # regular files only (through links)
                    continue
            except OSError:
                continue
            real = os.path.realpath(e.path) if e.is_symlink() else f"{real_folder}/{name}"
            yield e.path, real, root


def glob_regex(pattern: str) -> str:
    """A regex for a glob over '/'-separated paths: ``*`` and ``?`` stay within a
    folder, ``**/`` is any number of folders, a trailing ``/**`` everything below."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        if pattern.startswith("**/", i) and (i == 0 or pattern[i - 1] == "/"):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == n:
            out.append("(?:/.*)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2:]:
            j = pattern.index("]", i + 2)
            body = pattern[i + 1:j]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = j + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def _no_match(inp: Input, patterns: tuple[str, ...], workdir: str, dropped: int) -> FlowError:
    shown = ", ".join(patterns)
    note = f" ({dropped} matching files excluded)" if dropped else ""
    hint = ""
    for p in patterns:
        full = os.path.join(workdir, p)
        if not _MAGIC.search(p) and os.path.isdir(full):
            hint = f"{p} is a folder; for the files in it write {p.rstrip('/')}/**"
    return _error(inp, f"no file matches {shown}{note}", hint)


# ---------------------------------------------------------------- csv


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


def _csv_values(inp: Input, src: CsvSource, workdir: str, exclude_paths: frozenset[str],
                skip: Callable[[str], bool] | None) -> tuple[Any, ...]:
    if src.glob is not None:
        found, _ = glob_files([src.glob], workdir, (), exclude_paths, skip)
        if not found:
            raise _error(inp, f"no file matches {src.glob}")
        files = [p for p, _ in found]
    else:
        files = [os.path.normpath(os.path.join(workdir, src.path or ""))]
    if isinstance(src.column, str) and not src.header:
        raise _error(inp, f"column {src.column!r} is a name, which needs header: true",
                     "give the column's 0-based index, or set header: true")
    if isinstance(src.column, int) and (isinstance(src.column, bool) or src.column < 0):
        raise _error(inp, f"column must be a name or a 0-based index, not {src.column!r}")
    values: list[Any] = []
    for path in files:
        _read_csv(inp, src, path, workdir, values)
    return tuple(values)


def _read_csv(inp: Input, src: CsvSource, path: str, workdir: str, values: list[Any]) -> None:
    shown = path[len(workdir) + 1:] if path.startswith(workdir + "/") else path
    try:
        fh = open(path, encoding="utf-8-sig", newline="")  # utf-8-sig: Excel's BOM
    except FileNotFoundError:
        raise _error(inp, f"no such file: {shown}") from None
    except OSError as exc:
        raise _error(inp, f"cannot read {shown}: {exc.strerror}") from None
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
                raise _error(inp, f"{shown} is not UTF-8 text") from None
            except csv.Error as exc:
                raise _error(inp, f"bad CSV: {exc}", pos=Pos(shown, first, 1)) from None
            if not row or all(not c.strip() for c in row):
                continue  # blank lines carry no item
            if need_header:
                need_header = False
                if isinstance(src.column, str):
                    col = _column_index(inp, src.column, row, shown)
                continue
            assert col is not None
            if col >= len(row):
                raise _error(inp, f"row has {len(row)} columns; column {col} asked for",
                             pos=Pos(shown, first, 1))
            v = _number(row[col])
            if v is None:
                line, c = _cell_pos(lines.record, first, col)
                what = "empty cell" if not row[col].strip() else f"not a number: {row[col]!r}"
                raise _error(inp, what, pos=Pos(shown, line, c))
            values.append(v)
    if need_header and isinstance(src.column, str):
        raise _error(inp, f"{shown} is empty: no header with column {src.column!r}")


def _column_index(inp: Input, name: str, header: list[str], shown: str) -> int:
    names = [h.strip() for h in header]
    if name in header:
        return header.index(name)
    if name.strip() in names:
        return names.index(name.strip())
    hint = "columns: " + ", ".join(repr(n) for n in names)
    raise _error(inp, f"no column {name!r} in {shown}{did_you_mean(name, names)}", hint)
