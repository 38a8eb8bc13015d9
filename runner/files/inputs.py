"""A workflow's inputs turned into items (SPEC 1.2, 1.4).

:func:`expand` turns one :class:`runner.model.Input` into an :class:`ItemSource`:
how many items there are, a lazy iterator over them and, for ranges, the
:class:`~runner.execute.span.Span` itself so the engine can ship sub-ranges
instead of millions of pickled numbers. Globs are walked by
:mod:`runner.files.globs`, CSV files read by :mod:`runner.files.csvinput`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from runner.errors import FlowError, Pos, Problem
from runner.execute.span import Span
from runner.files.csvinput import CsvProblem, csv_values
from runner.files.globs import MAGIC, glob_files
from runner.model import CsvSource, GlobSource, Input, RangeSource, ValuesSource


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
            prefix = self.root.rstrip(os.sep) + os.sep
            below = self.source[len(prefix):] if self.source.startswith(prefix) else \
                os.path.relpath(self.source, self.root)  # the common case without relpath
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
    span: Span | None = None
    entries: tuple[Any, ...] = ()

    def items(self) -> Iterator[Item]:
        """The items, in order, made one at a time."""
        if self.span is not None:
            for i, v in enumerate(self.span):
                yield Item(i, v)
        elif self.kind == "glob":
            for i, (path, root) in enumerate(self.entries):
                yield Item(i, path, path, root)
        else:
            for i, v in enumerate(self.entries):
                yield Item(i, v)

    def __len__(self) -> int:
        return self.count


def expand(inp: Input, workdir: str,
           exclude_paths: frozenset[str] | Callable[[str], bool] = frozenset(),
           skip: Callable[[str], bool] | None = None) -> ItemSource:
    """The items of ``inp``; relative paths resolve against ``workdir``.

    ``exclude_paths`` are absolute paths this workflow writes; ``skip(path)``
    (e.g. ``runner.files.outputs.could_write(...)``) drops any other file the
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
        try:
            values = csv_values(src, workdir, exclude_paths, skip)
        except CsvProblem as p:
            raise _error(inp, p.message, p.hint, p.pos) from None
        return ItemSource(inp.name, "csv", len(values), entries=values)
    raise FlowError.single(f"unknown input kind {type(src).__name__}", inp.pos.file,
                           inp.pos.line, inp.pos.col, f"inputs.{inp.name}")


def _either(a: Callable[[str], bool], b: Callable[[str], bool] | None) -> Callable[[str], bool]:
    return a if b is None else (lambda path: a(path) or b(path))


def _error(inp: Input, message: str, hint: str = "", pos: Pos | None = None) -> FlowError:
    return FlowError([Problem(pos or inp.pos, f"inputs.{inp.name}", message, hint)])


def _range(inp: Input, src: RangeSource) -> ItemSource:
    for key, v in zip(("start", "stop", "step"), (src.start, src.stop, src.step), strict=True):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise _error(inp, f"range {key} must be a finite number, not {v!r}")
    if src.step == 0:
        raise _error(inp, "range step must not be 0")
    span = Span.of(src.start, src.stop, src.step)
    return ItemSource(inp.name, "range", span.count, span=span)


def _no_match(inp: Input, patterns: tuple[str, ...], workdir: str, dropped: int) -> FlowError:
    shown = ", ".join(patterns)
    note = f" ({dropped} matching files excluded)" if dropped else ""
    hint = ""
    for p in patterns:
        full = os.path.join(workdir, p)
        if not MAGIC.search(p) and os.path.isdir(full):
            hint = f"{p} is a folder; for the files in it write {p.rstrip('/')}/**"
    return _error(inp, f"no file matches {shown}{note}", hint)
