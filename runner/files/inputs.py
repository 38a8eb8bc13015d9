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
from functools import partial
from typing import Any

from runner.errors import FlowError, Pos, Problem
from runner.execute.span import Span
from runner.files.csvinput import CsvColumn, CsvProblem, CsvProblems, scan_csv
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

    ``entries`` holds the values (``values``) or ``(path, root)`` pairs (``glob``;
    for a CSV, its files with no root); a range keeps only its span and a CSV only
    how to read it again (``stream``), so 20 million items cost nothing until they
    are iterated. ``key``: what else decides the values (a CSV's column and header).
    """

    name: str
    kind: str  # "glob" | "range" | "values" | "csv"
    count: int
    span: Span | None = None
    entries: tuple[Any, ...] = ()
    stream: Callable[[], Iterator[Any]] | None = None  # csv: the values, read anew each time
    key: str = ""

    def items(self) -> Iterator[Item]:
        """The items, in order, made one at a time."""
        if self.span is not None:
            for i, v in enumerate(self.span):
                yield Item(i, v)
        elif self.stream is not None:
            for i, v in enumerate(self.stream()):
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
           exclude_paths: frozenset[str] | Callable[[str], object] = frozenset(),
           skip: Callable[[str], object] | None = None) -> ItemSource:
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
            raise _no_match(inp, src, workdir, dropped, exclude_paths, skip)
        return ItemSource(inp.name, "glob", len(found), entries=tuple(found))
    if isinstance(src, CsvSource):
        try:
            column = scan_csv(src, workdir, exclude_paths, skip)
        except CsvProblem as p:
            raise _error(inp, p.message, p.hint, p.pos) from None
        except CsvProblems as ps:  # every bad cell at once
            raise FlowError([Problem(p.pos or inp.pos, f"inputs.{inp.name}", p.message, p.hint)
                             for p in ps.problems]) from None
        return ItemSource(inp.name, "csv", column.count, stream=partial(_csv, inp, column),
                          entries=tuple((path, None) for path, _ in column.files),
                          key=repr((src.column, src.header)))
    raise FlowError.single(f"unknown input kind {type(src).__name__}", inp.pos.file,
                           inp.pos.line, inp.pos.col, f"inputs.{inp.name}")


def _csv(inp: Input, column: CsvColumn) -> Iterator[Any]:
    """A CSV input's numbers, read again as the run goes (never all held at once)."""
    try:
        yield from column.values()
    except CsvProblem as p:
        raise _error(inp, p.message, p.hint, p.pos) from None


def _either(a: Callable[[str], object],
            b: Callable[[str], object] | None) -> Callable[[str], object]:
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


def _no_match(inp: Input, src: GlobSource, workdir: str, dropped: int,
              exclude_paths: frozenset[str], skip: Callable[[str], object] | None) -> FlowError:
    """Why a glob found nothing: the workflow's own outputs would overwrite what it
    matches, or it matches in another case only, or it matches beside the workflow."""
    shown = ", ".join(src.patterns)
    if dropped and skip is not None:
        matched = [p for p, _ in glob_files(src.patterns, workdir, src.exclude, exclude_paths)[0]]
        writers = list(dict.fromkeys(w for w in map(skip, matched) if isinstance(w, str)))
        if writers:
            return _error(inp, f"the outputs of {' and '.join(writers)} would overwrite these "
                          f"inputs: the {len(matched)} files {shown} matches",
                          "outputs are never read as inputs: write the outputs to another "
                          "folder, such as out/")
    note = f" ({dropped} matching files excluded)" if dropped else ""
    hints = []
    for p in src.patterns:
        full = os.path.join(workdir, p)
        if not MAGIC.search(p) and os.path.isdir(full):
            hints.append(f"{p} is a folder; for the files in it write {p.rstrip('/')}/**")
    if not dropped:
        other, _ = glob_files(src.patterns, workdir, src.exclude, exclude_paths, skip,
                              ignore_case=True)
        if other:
            note = (f" (matching is case-sensitive: {len(other)} files match it in another "
                    f"case, such as {os.path.relpath(other[0][0], workdir)})")
    hints.append(f"looked in {workdir}, the working directory")
    beside = os.path.dirname(os.path.abspath(inp.pos.file)) if inp.pos.file else workdir
    if beside != workdir:
        there, _ = glob_files(src.patterns, beside, src.exclude)
        if there:
            rel = os.path.relpath(beside)
            hints.append(f"the workflow's folder has {len(there)} matching files: add "
                         f"--workdir {rel if not rel.startswith('..') else beside}")
    return _error(inp, f"no file matches {shown}{note}", "; ".join(hints))
