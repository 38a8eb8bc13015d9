"""What a workflow writes, judged before any item exists (SPEC 1.4).

Three things are knowable from the file alone, so ``flow validate`` refuses them as
``flow run`` does:

- a fixed output path (no per-item field) in a step that gets more than one item:
  every item would write the same file, and the last one to finish would win. How many
  items a step gets is judged by the kind of its inputs, not by reading them: a glob
  with a wildcard and a CSV file are many items (the next run may find more), a glob
  naming one file is one, ``values`` and ``range`` are as many as they hold; a reduce
  makes one, and a map step (a filter too) passes on as many as it gets;
- two steps writing one fixed path;
- an output whose suffix the template itself spells (``out/{stem}.jpg``) and that the
  step refuses for its arguments (``format: png``), through the step's
  ``check_output``. A path that ends in a field (``{name}``, ``{stem}``) is judged
  per item by the engine once the paths are filled, before anything runs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

from runner import model
from runner.compile.draft import Draft
from runner.errors import Collector, Pos
from runner.files import fields
from runner.files.globs import MAGIC

HINT = "put a per-item field such as {stem} or {relpath} in the path, or write after a reduce"


@dataclass(frozen=True)
class _Count:
    """How many items a step gets: ``n`` None means many, known only when inputs are read."""

    n: int | None
    origin: str  # said in the message: "input 'photos', a glob: many items"

    @property
    def many(self) -> bool:
        return self.n is None or self.n > 1


def check_writes(inputs: Sequence[model.Input], drafts: Sequence[Draft],
                 problems: Collector) -> None:
    """Report fixed paths that many items or two steps would write, and output suffixes
    the step refuses (see the module's docstring)."""
    counts = {inp.name: _input_count(inp) for inp in inputs}
    fixed: dict[str, tuple[Draft, Pos]] = {}
    for d in drafts:
        counts[d.id] = _step_count(d, counts)
        if d.sd is None:
            continue
        for arg, pos in d.output_pos.items():
            text = d.args.get(arg)
            if not isinstance(text, str):
                continue
            where = f"{d.path}.with.{arg}"
            _check_suffix(d, text, pos, where, problems)
            if _has_fields(text):
                continue
            if counts[d.id].many:
                problems.add(pos, where, f"every item of step '{d.id}' would write {text} "
                             f"(its items come from {counts[d.id].origin})", HINT)
            path = os.path.normpath(text)
            if path in fixed:
                other, at = fixed[path]
                problems.add(pos, where, f"step '{d.id}' would write {path}, which step "
                             f"'{other.id}' ({_line(at, pos)}) also writes")
            else:
                fixed[path] = (d, pos)


def _has_fields(text: str) -> bool:
    try:
        return any(f is not None for _, f, _, _ in fields.parse(text))
    except fields.TemplateError:
        return True  # reported with the template's own checks; judged no further


def _check_suffix(d: Draft, text: str, pos: Pos, where: str, problems: Collector) -> None:
    """The step's word on a suffix the template spells itself (not one a field brings)."""
    check = d.sd.check_output if d.sd is not None else None
    if check is None:
        return
    try:
        parsed = fields.parse(text)
    except fields.TemplateError:
        return
    tail = parsed[-1][0] if parsed and parsed[-1][1] is None else ""
    if any(f is not None for _, f, _, _ in parsed) and not any(c in tail for c in "./"):
        return  # the path ends in a field ({name}, {stem}): judged per item, paths filled
    probe = "".join(lit + ("x" if f is not None else "") for lit, f, _, _ in parsed)
    wrong = check(probe, d.args)
    if wrong is not None:
        problems.add(pos, where, f"output '{text}': {wrong}")


def _line(at: Pos, here: Pos) -> str:
    return f"line {at.line}" if at.file == here.file else f"{at.file}:{at.line}"


def _input_count(inp: model.Input) -> _Count:
    src, name = inp.source, inp.name
    if isinstance(src, model.ValuesSource):
        return _Count(len(src.values), f"input '{name}': {len(src.values)} values")
    if isinstance(src, model.RangeSource):
        n = _range_count(src)
        return _Count(n, f"input '{name}': {'many' if n is None else n} numbers")
    if isinstance(src, model.GlobSource) and not any(MAGIC.search(p) for p in src.patterns):
        n = len(src.patterns)  # each names one file at most
        return _Count(n, f"input '{name}': {n} named files")
    kind = "a glob" if isinstance(src, model.GlobSource) else "a CSV file"
    return _Count(None, f"input '{name}', {kind}: many items")


def _range_count(src: model.RangeSource) -> int | None:
    try:
        return max(0, math.ceil((src.stop - src.start) / src.step))
    except (TypeError, ZeroDivisionError, ValueError, OverflowError):
        return None  # a bad range is reported when the input is read


def _step_count(d: Draft, counts: dict[str, _Count]) -> _Count:
    if d.sd is not None and d.sd.kind == "reduce":
        return _Count(1, f"step '{d.id}', a reduce: one item")
    ups = [counts[s] for s in d.sources or () if s in counts]
    if len(ups) == 1:
        return ups[0]
    many = next((c for c in ups if c.n is None), None)
    if many is not None:
        return many
    return _Count(sum(c.n or 0 for c in ups), " and ".join(c.origin for c in ups) or "nothing")
