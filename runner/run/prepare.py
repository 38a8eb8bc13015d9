"""Before anything runs: plan, expand inputs, check every output path.

:func:`prepare` turns a frozen Workflow into a :class:`Prepared` run: the stages,
each input's items, each stage's chain, and the output folders. Two items that
would write one path, or a path outside the working directory, are refused here,
before any process starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from runner.errors import FlowError, Problem
from runner.files.inputs import Item, ItemSource, expand
from runner.files.outputs import OutputClaims, Resolver, could_write
from runner.model import Workflow
from runner.plan import Plan, Stage, plan
from runner.run.chains import StageChain, build_chain, item_outs


@dataclass
class Prepared:
    """A plan with its inputs expanded and its outputs checked: nothing written yet."""

    plan: Plan
    sources: dict[str, ItemSource]
    chains: dict[str, StageChain]
    resolver: Resolver
    output_dirs: list[str] = field(default_factory=list)

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

def spill_dir(workdir: str) -> str:
    """Where this run's images that leave a worker are kept (removed at the end)."""
    return os.path.join(workdir, ".flow", "tmp", str(os.getpid()))


def prepare(workflow: Workflow, allow_outside: bool = False) -> Prepared:
    """Plan, expand inputs and check every output path before anything runs."""
    p = plan(workflow)
    spill = spill_dir(workflow.workdir)
    resolver = Resolver(workflow.workdir, allow_outside)
    chains = {}
    problems: list[Problem] = []
    consumed = {s for st in p.stages for s in st.sources}
    for st in p.stages:
        fold_step = p.stage(_consumer(p, st)).steps[0] if st.fold else None
        # A map stage no later stage takes from gives its values to nobody: keep none.
        returns = st.id in consumed or st.kind == "reduce"
        try:
            chains[st.id] = build_chain(st, resolver, spill, fold_step, returns)
        except FlowError as err:
            problems.extend(err.problems)
    if problems:
        raise FlowError(problems)
    templates = [o.template for sc in chains.values() for o in sc.outputs]
    statics = [path for sc in chains.values() for path in sc.static_paths]
    writes = could_write(templates, statics, workflow.workdir)
    sources: dict[str, ItemSource] = {}
    for inp in workflow.inputs:
        try:
            sources[inp.name] = expand(inp, workflow.workdir, writes)
        except FlowError as err:
            problems.extend(err.problems)
    if problems:
        raise FlowError(problems)
    prep = Prepared(p, sources, chains, resolver)
    _check_outputs(prep, workflow)
    return prep


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


LARGE = 1_000_000  # past this many items, outputs are checked as they are made


def _check_outputs(prep: Prepared, workflow: Workflow) -> None:
    """Two items writing one path, or a path outside the workdir: refused up front."""
    dirs: set[str] = set()
    problems: list[Problem] = []
    claims = OutputClaims(workflow.workdir)
    for st in prep.plan.stages:
        sc = prep.chains[st.id]
        dirs.update(os.path.dirname(p) for p in sc.static_paths)
        if not sc.outputs or prep.root_count(st) > LARGE:
            continue
        pairs = []
        try:
            for item in _root_items(prep, st):
                outs = item_outs(sc, item, prep.resolver)
                pairs.append((item, outs))
        except FlowError as err:
            problems.extend(err.problems)
            continue
        for o_index, o in enumerate(sc.outputs):
            paths = [(item, outs[o_index][2]) for item, outs in pairs]
            dirs.update(os.path.dirname(p) for _, p in paths)
            claims.add(paths, o.step.pos, f"steps.{o.step.id}.with.{o.arg}")
    try:
        claims.raise_if_any()
    except FlowError as err:
        problems.extend(err.problems)
    if problems:
        raise FlowError(problems)
    prep.output_dirs = sorted(dirs)
