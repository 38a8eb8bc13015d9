"""Before anything runs: plan, expand inputs, check every output path.

:func:`prepare` turns a frozen Workflow into a :class:`Prepared` run: the stages,
each input's items, each stage's chain, and the output folders. Two items that
would write one path, or a path outside the working directory, are refused here,
before any process starts.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.errors import FlowError, Problem
from runner.files.identity import blake2b
from runner.files.inputs import Item, ItemSource, expand
from runner.files.outputs import OutputClaims, Resolver, could_write, refused_paths
from runner.model import StepSpec, Workflow
from runner.plan import Plan, Stage, plan
from runner.run.chains import StageChain, build_chain, has_fields, item_outs


@dataclass
class Prepared:
    """A plan with its inputs expanded and its outputs checked: nothing written yet."""

    plan: Plan
    sources: dict[str, ItemSource]
    chains: dict[str, StageChain]
    resolver: Resolver
    output_dirs: list[str] = field(default_factory=list)
    outputs_digest: str = ""  # every output path this run can write, as one digest
    checked_before: bool = False  # an earlier run checked these very paths: not again

    def root_count(self, stage: Stage) -> int:
        """Items that can reach ``stage`` (an upper bound past filters)."""
        total = 0
        for src in stage.sources:
            if src in self.sources:
                total += self.sources[src].count
            else:
                up = self.plan.stage(src)
                total += 1 if up.kind == "reduce" else self.root_count(up)
        return total if stage.kind == "map" else 1

    def task_items(self, stage: Stage) -> int:
        """Items a stage's tasks take between them, which bounds its workers: its items,
        or for a reduce that folds its inputs in chunks, theirs."""
        if stage.folds_input:
            return sum(self.sources[s].count for s in stage.sources)
        return self.root_count(stage)


def spill_dir(workdir: str) -> str:
    """Where this run's images that leave a worker are kept (removed at the end)."""
    return os.path.join(workdir, ".flow", "tmp", str(os.getpid()))


def prepare(workflow: Workflow, allow_outside: bool = False,
            checked: Callable[[str], list[str] | None] | None = None) -> Prepared:
    """Plan, expand inputs and check every output path before anything runs.

    ``checked(digest)`` gives the output folders of an earlier check of exactly the same
    output paths (the same templates over the same items: none can collide now either),
    or None; the paths are then not filled and checked one by one again."""
    p = plan(workflow)
    spill = spill_dir(workflow.workdir)
    _check_folders(os.path.dirname(spill))
    resolver = Resolver(workflow.workdir, allow_outside)
    chains = {}
    problems: list[Problem] = []
    for st in p.stages:
        fold_step = p.stage(_consumer(p, st)).steps[0] if st.fold else None
        try:
            chains[st.id] = build_chain(st, resolver, spill, fold_step)
        except FlowError as err:
            problems.extend(err.problems)
    if problems:
        raise FlowError(problems)
    outs = [o for sc in chains.values() for o in sc.outputs]
    fixed = _fixed_outputs(p, resolver)
    owners = {o.template: _label(o.step, workflow) for o in outs}
    owners.update((path, _label(spec, workflow)) for spec, _, path in fixed)
    writes = could_write([o.template for o in outs], [path for _, _, path in fixed],
                         workflow.workdir, owners)
    sources: dict[str, ItemSource] = {}
    for inp in workflow.inputs:
        try:
            sources[inp.name] = expand(inp, workflow.workdir, writes)
        except FlowError as err:
            problems.extend(err.problems)
    if problems:
        raise FlowError(problems)
    prep = Prepared(p, sources, chains, resolver)
    if checked is not None:
        prep.outputs_digest = _outputs_digest(prep, workflow, allow_outside)
        dirs = checked(prep.outputs_digest)
        # ... unless a folder it wrote into is now a link elsewhere: then check them all.
        if dirs is not None and all(os.path.realpath(d) == d for d in dirs):
            prep.output_dirs, prep.checked_before = dirs, True
            return prep
    _check_outputs(prep, workflow, fixed)
    return prep


def _outputs_digest(prep: Prepared, workflow: Workflow, allow_outside: bool) -> str:
    """The templates, fixed paths and items that decide every output path, as a digest."""
    h = blake2b(digest_size=16)
    h.update(repr((workflow.workdir, allow_outside)).encode())
    for st in prep.plan.stages:
        sc = prep.chains[st.id]
        h.update(repr((st.id, [(o.chain_pos, o.arg, o.template) for o in sc.outputs],
                       sc.static_paths)).encode("utf-8", "surrogateescape"))
        if sc.outputs:
            for part in _item_parts(prep, st):
                h.update(part.encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def _item_parts(prep: Prepared, st: Stage) -> Iterator[str]:
    """What decides the output paths of a stage's items (index, file, glob root or value),
    as text in chunks; a glob's entries are read as they are, without making Items."""
    for src in st.sources:
        source = prep.sources.get(src)
        if source is not None and source.kind == "glob":
            rows = enumerate(source.entries)
            while chunk := list(itertools.islice(rows, 4096)):
                yield "".join(f"{i}\0{path}\0{root}\0\n" for i, (path, root) in chunk)
            continue
        up = prep.plan.stage(src) if source is None else None
        items = source.items() if source is not None else iter([Item(0, None)]) \
            if up is not None and up.kind == "reduce" else _root_items(prep, up)  # type: ignore
        while chunk := list(itertools.islice(items, 4096)):
            yield "".join(f"{it.index}\0{it.source}\0{it.root}\0"
                          f"{repr(it.value) if it.source is None else ''}\n" for it in chunk)


def _fixed_outputs(p: Plan, resolver: Resolver) -> list[tuple[StepSpec, str, str]]:
    """``(step, where, path)`` of every output path with no per-item field, resolved."""
    out = []
    for st in p.stages:
        for spec in st.steps:
            for arg in spec.outputs:
                tmpl = spec.args.get(arg)
                if isinstance(tmpl, str) and not has_fields(tmpl):
                    out.append((spec, f"steps.{spec.id}.with.{arg}", resolver.resolve(tmpl)))
    return out


def _label(spec: StepSpec, workflow: Workflow) -> str:
    """How a step is named in a message about its outputs: ``step 'save' (line 12)``."""
    if spec.pos.file and os.path.abspath(spec.pos.file) != workflow.path:
        return f"step '{spec.id}' ({spec.pos.file}:{spec.pos.line})"  # an included file
    return f"step '{spec.id}' (line {spec.pos.line})"


def _check_folders(tmp: str) -> None:
    """``.flow`` and ``.flow/tmp`` are folders or absent: said once, not by every item."""
    for path in (os.path.dirname(tmp), tmp):
        if os.path.lexists(path) and not os.path.isdir(path):
            name = os.path.relpath(path, os.path.dirname(os.path.dirname(tmp)))
            raise FlowError.single(f"{name} is not a folder: flow keeps its run state and the "
                                   "images passed between stages there", file=path,
                                   hint="move or remove it")


def _consumer(p: Plan, stage: Stage) -> str:
    return next(s.id for s in p.stages if stage.id in s.sources)


def _root_items(prep: Prepared, stage: Stage) -> Iterator[Item]:
    for src in stage.sources:
        if src in prep.sources:
            yield from prep.sources[src].items()
        else:
            up = prep.plan.stage(src)
            if up.kind == "reduce":
                yield Item(0, None)
            else:
                yield from _root_items(prep, up)


def _output_check(spec: StepSpec) -> Callable[[str, Mapping[str, Any]], str | None] | None:
    """The step's own check of an output path (a suffix against its format), if it has one."""
    from steps.registry import resolve_ref, step_def

    sd = step_def(resolve_ref(spec.ref))
    return sd.check_output if sd is not None else None


LARGE = 1_000_000  # past this many items, outputs are checked as they are made


def _check_outputs(prep: Prepared, workflow: Workflow,
                   fixed: list[tuple[StepSpec, str, str]]) -> None:
    """Two items (or steps) writing one path, a path outside the workdir, a path the
    step refuses (a suffix against its format): refused up front."""
    dirs: set[str] = set()
    problems: list[Problem] = []
    claims = OutputClaims(workflow.workdir)
    for spec, where, path in fixed:  # fixed paths first: an item writing one is then named
        claims.add_fixed(path, spec.pos, where)
    for st in prep.plan.stages:
        sc = prep.chains[st.id]
        dirs.update(os.path.dirname(p) for p in sc.static_paths)
        if not sc.outputs or prep.root_count(st) > LARGE:
            continue
        for o_index, o in enumerate(sc.outputs):
            # Paths made as they are claimed: no list of every item and its outputs.
            where = f"steps.{o.step.id}.with.{o.arg}"
            check, args = _output_check(o.step), o.step.args.as_dict()
            refused: list[tuple[Item, str]] = []

            def paths(sc: StageChain = sc, o_index: int = o_index, st: Stage = st,
                      check: Any = check, args: Any = args,
                      refused: list[tuple[Item, str]] = refused) -> Iterator[tuple[Item, str]]:
                for item in _root_items(prep, st):
                    path = item_outs(sc, item, prep.resolver)[o_index][2]
                    dirs.add(os.path.dirname(path))
                    if check is not None and check(path, args) is not None:
                        refused.append((item, path))
                    yield item, path
            try:
                claims.add(paths(), o.step.pos, where)
            except FlowError as err:
                problems.extend(err.problems)
                break
            if refused:
                problems.extend(refused_paths(refused, lambda p, a=args, c=check: c(p, a),
                                              o.step.pos, where, workflow.workdir))
    try:
        claims.raise_if_any()
    except FlowError as err:
        problems.extend(err.problems)
    if problems:
        raise FlowError(problems)
    prep.output_dirs = sorted(dirs)
