"""A workflow file (+ params) -> a validated, frozen :class:`runner.model.Workflow`.

Order of work for one file: read the positioned tree (:mod:`runner.compile.load`),
settle the params and substitute ``${name}`` (:mod:`runner.compile.params`), check the
structure (:mod:`runner.compile.validate`), then resolve each step's ``uses``, check its
``with`` against that step's schema and its output templates, and check the
graph. Every problem is collected; nothing stops at the first. A step that uses
another workflow file has that file's steps inlined (:mod:`runner.compile.includes`).
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, replace
from typing import Any

from runner import model
from runner.compile.cliorigin import cli_places, credit
from runner.compile.draft import Draft
from runner.compile.includes import flatten, include, merge_settings
from runner.compile.load import load_file
from runner.compile.params import check_output, plain_values, resolve_params, substitute
from runner.compile.pyfind import PyStepError
from runner.compile.pysteps import read_step
from runner.compile.strays import adopt_strays
from runner.compile.tree import Map, Node, Scalar, Seq, make_map, to_plain
from runner.compile.validate import check, check_workflow
from runner.compile.writes import check_writes
from runner.compile.yamlhints import braced_text
from runner.errors import Collector, FlowError, Pos, Problem, did_you_mean
from runner.model import ExecutorSpec, Input, Source, StepSpec, Workflow
from steps.registry import StepDef

SETTINGS = ("parallel", "retries", "timeout", "on_error")


@dataclass
class _Doc:
    name: str
    description: str
    params: dict[str, Node]
    inputs: list[Input]
    input_names: list[str]
    steps: list[Draft]
    executor: ExecutorSpec


def load_workflow(path: str, params: dict[str, str] | None = None, workdir: str | None = None,
                  *, allow_outside: bool = False) -> Workflow:
    """Load, validate and freeze the workflow at ``path``.

    ``params``: raw ``-p name=value`` strings, each read as a YAML scalar.
    ``workdir`` (default: the current directory) is where relative paths
    resolve; output templates that surely leave it are errors unless
    ``allow_outside``. Steps are looked up in ``steps.registry.load_registry()``.
    Raises :class:`runner.errors.FlowError` with every problem found (exit code 2).
    """
    from steps.registry import load_registry

    problems = Collector()
    loader = Loader(load_registry(), problems, allow_outside,
                    os.path.abspath(workdir or os.getcwd()))
    doc = loader.load(path, params or {}, None, (os.path.abspath(path),))
    if doc is not None:
        _check_feeds(doc, problems)
        check_writes(doc.inputs, doc.steps, problems)
    loader.drop_cascades()
    problems.problems = credit(problems.problems, loader.cli_places, params or {})
    problems.raise_if_any()
    assert doc is not None
    return Workflow(
        name=doc.name, path=os.path.abspath(path),
        workdir=os.path.abspath(workdir or os.getcwd()),
        inputs=tuple(doc.inputs), steps=tuple(_spec(d) for d in doc.steps),
        description=doc.description, params=plain_values(doc.params), executor=doc.executor)


class Loader:
    """Reads workflow files (one, and the ones it includes) into drafts, collecting problems."""

    def __init__(self, registry: dict[str, StepDef], problems: Collector,
                 allow_outside: bool, workdir: str) -> None:
        self.registry = registry
        self.problems = problems
        self.allow_outside = allow_outside
        self.workdir = workdir
        # Where a ${...} could not be substituted: the only problem reported there.
        self.tainted: set[Pos] = set()
        self.subst: set[Problem] = set()
        self.cli_places: dict[Pos, tuple[str, ...]] = {}  # where the file uses a -p param

    def add(self, pos: Pos, path: str, message: str, hint: str = "") -> None:
        self.problems.add(pos, path, message, hint)

    def drop_cascades(self) -> None:
        """Where a ${...} failed, drop what the unsubstituted text broke further on."""
        self.problems.problems = [p for p in self.problems.problems
                                  if p.pos not in self.tainted or p in self.subst]

    def load(self, path: str, cli: dict[str, str] | None, given: dict[str, Node] | None,
             chain: tuple[str, ...]) -> _Doc | None:
        """One file, its includes inlined; None if it could not be read as YAML."""
        try:
            root = load_file(path, self.problems)
        except FlowError as e:
            self.problems.extend(e.problems)
            return None
        if cli:
            self.cli_places = cli_places(root, cli)
        before = len(self.problems.problems)
        params = resolve_params(root.get("params"), path, cli, given, self.problems)
        values = [v if k.value == "params" else substitute(v, params, k.value, self.problems)
                  for k, v in root.items()]
        self.subst.update(self.problems.problems[before:])
        self.tainted.update(p.pos for p in self.problems.problems[before:])
        root = adopt_strays(make_map(list(root.keys), values, root.pos), self.registry, self.add)
        before = len(self.problems.problems)
        check_workflow(root, self.problems)
        _check_ranges(root.get("inputs"), self.problems)
        names, inputs = _inputs(root.get("inputs"), self.problems.problems[before:])
        drafts = []
        steps = root.get("steps")
        for i, node in enumerate(steps.items if isinstance(steps, Seq) else ()):
            if isinstance(node, Map):
                drafts.append(self.step(node, f"steps[{i}]", path, chain))
        _graph(drafts, names, self)
        defaults = _settings(root.get("defaults"))
        flat = flatten(drafts)
        for d in flat:
            d.settings = merge_settings(d.settings, defaults)
        name, desc = root.get("name"), root.get("description")
        return _Doc(name=_str(name), description=_str(desc), params=params, inputs=inputs,
                    input_names=names, steps=flat, executor=_executor(root.get("executor")))

    def step(self, node: Map, path: str, file: str, chain: tuple[str, ...]) -> Draft:
        id_node, uses_node, with_node = node.get("id"), node.get("uses"), node.get("with")
        d = Draft(id=_str(id_node), uses=_str(uses_node), pos=node.pos, path=path,
                   id_pos=id_node.pos if id_node else node.pos,
                   settings=_settings(node))
        src = node.get("from")
        if isinstance(src, Scalar) and isinstance(src.value, str):
            d.sources, d.source_pos = [src.value], [src.pos]
        elif isinstance(src, Seq):  # names only; anything else is reported by the schema
            named = [n for n in src.items if isinstance(n, Scalar) and isinstance(n.value, str)]
            d.sources, d.source_pos = [n.value for n in named], [n.pos for n in named]
        elif src is not None:
            d.sources = []  # wrong shape, reported by the schema
        if not isinstance(uses_node, Scalar) or not d.uses:
            return d
        if with_node is None or (isinstance(with_node, Scalar) and with_node.value is None):
            with_node = make_map([], [], with_node.pos if with_node else node.pos)
        elif not isinstance(with_node, Map):
            return d  # reported by the schema; its arguments cannot be checked
        upath = f"{path}.uses"
        if d.uses.endswith((".yaml", ".yml")) or d.uses.startswith("pkg:"):
            include(self, d, uses_node.pos, with_node, file, chain)
            return d
        if d.uses.startswith("py:"):
            d.sd = self.python(d.uses, uses_node.pos, upath, file)
        else:
            d.sd = self.registry.get(d.uses)
            if d.sd is None:
                self.add(uses_node.pos, upath, f"unknown step '{d.uses}'"
                         f"{did_you_mean(d.uses, self.registry)}",
                         "flow steps lists the available steps")
        if d.sd is not None:
            before = len(self.problems.problems)
            check(with_node, d.sd.schema, f"{path}.with", self.problems, what="argument")
            self.hint_braced(with_node, f"{path}.with", before)
            d.args = to_plain(with_node)
            for arg in d.sd.outputs:
                value = with_node.get(arg)
                if isinstance(value, Scalar) and isinstance(value.value, str):
                    d.output_pos[arg] = value.pos
                    for message, hint in check_output(value.value, d.sd.kind == "reduce",
                                                      self.allow_outside):
                        self.add(value.pos, f"{path}.with.{arg}", message, hint)
            for arg in d.sd.reads:
                self.read_file(d, with_node.get(arg), f"{path}.with.{arg}")
        return d

    def read_file(self, d: Draft, node: Node | None, path: str) -> None:
        """A file a step reads must exist; the step gets its full path (workers' cwd differs)."""
        if not (isinstance(node, Scalar) and isinstance(node.value, str) and node.value):
            return  # absent or of the wrong type: the schema says so
        full = os.path.abspath(os.path.join(self.workdir, node.value))
        if os.path.isfile(full):
            d.args[path.rpartition(".")[2]] = full
            return
        what = "a folder, not a file" if os.path.isdir(full) else "file not found"
        self.add(node.pos, path, f"{what}: '{node.value}'",
                 f"relative paths start from the working directory, {self.workdir}")

    def hint_braced(self, with_node: Map, path: str, since: int) -> None:
        """``to: {stem}`` is a mapping to YAML: the problems found there say to quote it."""
        probs = self.problems.problems
        for key, value in with_node.items():
            text = braced_text(value)
            for i in range(since, len(probs)) if text else ():
                if probs[i].pos == value.pos and not probs[i].hint:
                    probs[i] = replace(probs[i], hint=f"YAML reads {text} as a mapping: "
                                       f'quote it: {key.value}: "{text}"')

    def python(self, uses: str, pos: Pos, path: str, file: str) -> StepDef | None:
        """``py:module.path:function``, read from its source (see runner.compile.pysteps)."""
        try:
            return read_step(uses, os.path.dirname(os.path.abspath(file)))
        except PyStepError as e:
            self.add(pos, path, e.message, e.hint)
            return None


def _graph(drafts: list[Draft], inputs: list[str], ld: Loader) -> None:
    """Check ids and ``from`` of one file's steps; fill in the default ``from``."""
    below = {d.id for d in drafts if d.id}
    for d in drafts:
        below.update(s.id for s in d.inner or ())
    above: list[str] = []
    seen: dict[str, Draft] = {}
    for i, d in enumerate(drafts):
        if d.id and d.id in seen:
            ld.add(d.id_pos, f"{d.path}.id", f"duplicate step id '{d.id}' "
                   f"(first at line {seen[d.id].id_pos.line})")
        elif d.id in inputs:
            ld.add(d.id_pos, f"{d.path}.id", f"step id '{d.id}' is also an input name",
                   "rename one of them: `from` would not know which is meant")
        if d.sources is None:
            if i == 0:
                example = f"from: {inputs[0]}" if inputs else "from: <an input>"
                ld.add(d.pos, d.path, "the first step must say where its items come from",
                       f"add {example}")
                d.sources = []
            else:
                d.sources = [drafts[i - 1].id] if drafts[i - 1].id else []
        else:
            for name, pos in zip(d.sources, d.source_pos, strict=True):
                fpath = f"{d.path}.from"
                if name in inputs or name in above:
                    continue
                if name == d.id:
                    ld.add(pos, fpath, f"cycle or forward reference: step '{name}' cannot "
                           "take from itself")
                elif name in below:
                    ld.add(pos, fpath, f"cycle or forward reference: step '{name}' is below "
                           "this one", "a step takes from inputs and from steps above it")
                else:
                    ld.add(pos, fpath, f"unknown input or step '{name}'"
                           f"{did_you_mean(name, [*inputs, *above])}")
        if d.id:
            seen.setdefault(d.id, d)
            above.append(d.id)
            above.extend(s.id for s in d.inner or ())



def _check_feeds(doc: _Doc, problems: Collector) -> None:
    """A reduce step must be fed by something that can yield items."""
    yields = {i.name: _can_yield(i.source) for i in doc.inputs}
    for d in doc.steps:
        ok = any(yields.get(s, True) for s in d.sources or ())
        if not ok and d.sd is not None and d.sd.kind == "reduce" and d.sources:
            problems.add(d.pos, d.path, f"reduce step '{d.id}' is fed nothing: its upstream "
                         f"({', '.join(d.sources)}) can never yield an item")
            ok = True  # said once, not again for every step below it
        yields[d.id] = ok


def _can_yield(src: Source) -> bool:
    if isinstance(src, model.ValuesSource):
        return bool(src.values)
    if isinstance(src, model.RangeSource):
        return (src.stop - src.start) * src.step > 0
    return True  # files: known only when the globs run


def _spec(d: Draft) -> StepSpec:
    assert d.sd is not None
    s = d.settings
    par = s.get("parallel", {})
    timeout = s.get("timeout")
    return StepSpec(
        id=d.id, uses=d.uses, ref=d.sd.ref, kind=d.sd.kind, args=model.Args.of(_freeze(d.args)),
        sources=tuple(d.sources or ()),
        parallel=model.Parallel(mode=par.get("mode", "map"), workers=_auto(par.get("workers")),
                          chunksize=_auto(par.get("chunksize"))),
        retries=int(s.get("retries", 0)), timeout=None if timeout is None else float(timeout),
        on_error=s.get("on_error", "continue"), outputs=d.sd.outputs, takes=d.sd.takes,
        gives=d.sd.gives, pos=d.pos)


def _freeze(value: Any) -> Any:
    """Lists -> tuples, so Args stays hashable."""
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return {k: _freeze(v) for k, v in value.items()}
    return value


def _auto(value: Any) -> int | None:
    return None if value in (None, "auto") else int(value)


def _str(node: Node | None) -> str:
    return node.value if isinstance(node, Scalar) and isinstance(node.value, str) else ""



def _settings(node: Node | None) -> dict[str, Any]:
    """The step settings a mapping sets itself (their shapes are checked by the schema)."""
    if not isinstance(node, Map):
        return {}
    out = {k: to_plain(node.get(k)) for k in SETTINGS if node.get(k) is not None}
    if not isinstance(out.get("parallel", {}), dict):
        del out["parallel"]  # reported by the schema; keeps merge_settings safe
    return out


def _check_ranges(node: Node | None, problems: Collector) -> None:
    """Ranges of finite numbers (NaN compares false with everything) and countable items."""
    for key, value in node.items() if isinstance(node, Map) else ():
        rng = value.get("range") if isinstance(value, Map) else None
        parts = {"stop": rng} if isinstance(rng, Scalar) else {
            k.value: v for k, v in rng.items()} if isinstance(rng, Map) else {}
        nums = {k: n.value for k, n in parts.items() if isinstance(n, Scalar)
                and isinstance(n.value, int | float) and not isinstance(n.value, bool)}
        where = f"inputs.{key.value}.range"
        bad = [k for k, v in nums.items() if isinstance(v, float) and not math.isfinite(v)]
        for k in bad:
            problems.add(parts[k].pos, f"{where}.{k}", f"must be a finite number, not {nums[k]}")
        if bad or "stop" not in nums or nums.get("step", 1) == 0:
            continue  # a missing stop or a zero step: the schema says so
        try:
            count = abs(nums["stop"] - nums.get("start", 0)) / abs(nums.get("step", 1))
        except OverflowError:  # beyond a float
            count = math.inf
        if count >= sys.maxsize:
            about = f"about {count:.3g}" if math.isfinite(count) else "over 1e308"
            problems.add(parts["stop"].pos, f"{where}.stop", f"a range of {about} items is "
                         f"more than flow can count ({sys.maxsize})")


def _inputs(node: Node | None, problems: list[Problem]) -> tuple[list[str], list[Input]]:
    """Every input name, and the inputs the schema found nothing wrong with."""
    names: list[str] = []
    out: list[Input] = []
    for key, value in node.items() if isinstance(node, Map) else ():
        names.append(key.value)
        where = f"inputs.{key.value}"
        if not isinstance(value, Map) or any(
                p.path == where or p.path.startswith((where + ".", where + "["))
                for p in problems):
            continue
        kind = next(k for k in ("glob", "range", "values", "csv") if value.get(k) is not None)
        out.append(Input(key.value, _source(kind, to_plain(value)), value.get(kind).pos))
    return names, out


def _tuple(v: Any) -> tuple[Any, ...]:
    return (v,) if isinstance(v, str) else tuple(v)


def _source(kind: str, v: dict[str, Any]) -> Source:
    """An input's source, from a shape the schema has passed."""
    if kind == "glob":
        return model.GlobSource(_tuple(v["glob"]), _tuple(v.get("exclude", ())),
                          v.get("allow_empty", False))
    if kind == "range":
        r = v["range"] if isinstance(v["range"], dict) else {"stop": v["range"]}
        return model.RangeSource(r.get("start", 0), r["stop"], r.get("step", 1))
    if kind == "values":
        return model.ValuesSource(tuple(v["values"]))
    c = v["csv"]
    return model.CsvSource(c.get("path"), c.get("glob"), c["column"], c.get("header", True))


def _executor(node: Node | None) -> ExecutorSpec:
    v = to_plain(node) if isinstance(node, Map) else {}
    return ExecutorSpec(v.get("kind", "local"), v.get("address"))
