"""The step graph and the plan: steps fused into stages.

A stage is what a worker runs on one item without sending it back: a linear
run of map steps with the same settings, or a reduce followed by the steps
that work on its single result with the same settings. Fusing keeps pixels
inside the worker between steps; a stage has one timeout, one on_error and one
retry count, so a step that asks for others starts a stage of its own. A map
stage whose only consumer is a foldable reduce (sum, mean, stats...) folds its
values per chunk inside the workers, so millions of numbers never travel back
one by one; a foldable reduce fed straight by inputs has the workers fold its
input in chunks the same way, so flow's own process never holds every item.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from runner.fanout import fuse_fanouts
from runner.model import Parallel, StepSpec, Workflow


def open_ref() -> str:
    """The function behind ``image.open``, inserted before an image step fed paths."""
    import steps.image
    from steps.registry import collect

    return collect(steps.image)["image.open"].ref


@dataclass(frozen=True)
class Stage:
    """A fused run of steps; the unit the table shows and the scheduler feeds."""

    id: str
    steps: tuple[StepSpec, ...]
    kind: str  # "map" | "reduce"
    sources: tuple[str, ...]  # input names or stage ids, concatenated in order
    parallel: Parallel
    timeout: float | None
    on_error: str
    retries: int  # attempts after a lost worker or a timeout
    open_before: tuple[int, ...] = ()  # positions in steps that need image.open first
    fold: str | None = None  # a map stage: the reduce step id its values fold into
    folded: bool = False  # a reduce stage fed fold partials
    folds_input: bool = False  # a folded reduce fed by inputs: workers fold them in chunks
    branches: tuple[int, ...] = ()  # a tree: where each branch starts in steps (runner.fanout)

    @property
    def label(self) -> str:
        """The fused step ids, ``orient→shrink→save``; a tree ``orient→[big→save | small→save]``."""
        if not self.branches:
            return "→".join(s.id for s in self.steps)
        arms = " | ".join(self.arms)
        trunk = "→".join(s.id for s in self.steps[:self.branches[0]])
        return f"{trunk}→[{arms}]" if trunk else f"[{arms}]"

    @property
    def arms(self) -> tuple[str, ...]:
        """A tree's branches as their steps' ids, ``big→save_big`` each (none for a chain)."""
        bounds = [*self.branches, len(self.steps)]
        return tuple("→".join(s.id for s in self.steps[a:b])
                     for a, b in zip(bounds, bounds[1:], strict=False)) if self.branches else ()

    @property
    def mode(self) -> str:
        """How the stage is dispatched; a reduce is one ``apply_async`` task."""
        if self.kind == "reduce" and self.parallel.mode == "map":
            return "async"  # a reduce is one task: apply_async
        return self.parallel.mode


@dataclass(frozen=True)
class Plan:
    """The stages of a workflow, each after its sources."""

    workflow: Workflow
    stages: tuple[Stage, ...]  # in an order where sources come first

    def stage(self, stage_id: str) -> Stage:
        """The stage with this id."""
        return next(s for s in self.stages if s.id == stage_id)


def consumers_of(workflow: Workflow) -> dict[str, list[str]]:
    """Step id or input name -> the step ids that take from it."""
    out: dict[str, list[str]] = {}
    for st in workflow.steps:
        for src in st.sources:
            out.setdefault(src, []).append(st.id)
    return out


def _same_settings(prev: StepSpec, nxt: StepSpec, after_reduce: bool) -> bool:
    """Two steps run as one stage when the user asked the same of both.

    After a reduce there is one item, so whatever follows (a reduce too) runs in
    the same task, and workers and chunks do not matter; the mode still does
    (``serial`` runs in flow's own process).
    """
    if nxt.timeout != prev.timeout or nxt.on_error != prev.on_error \
            or nxt.retries != prev.retries:
        return False
    if after_reduce:
        return nxt.parallel.mode == prev.parallel.mode
    return nxt.kind == "map" and nxt.parallel == prev.parallel


def _source_gives(name: str, workflow: Workflow) -> str:
    inp = workflow.input(name)
    if inp is not None:
        gives = {"GlobSource": "path", "RangeSource": "number", "CsvSource": "number"}
        return gives.get(type(inp.source).__name__, "any")
    st = workflow.step(name)
    return st.gives if st is not None else "any"


def plan(workflow: Workflow) -> Plan:
    """Fuse the workflow's steps into stages."""
    consumers = consumers_of(workflow)
    groups: list[list[StepSpec]] = []
    group_of: dict[str, int] = {}
    for st in workflow.steps:
        if len(st.sources) == 1 and st.sources[0] in group_of:
            g = groups[group_of[st.sources[0]]]
            prev = g[-1]
            after_reduce = any(s.kind == "reduce" for s in g)
            if prev.id == st.sources[0] and consumers.get(prev.id) == [st.id] and \
                    _same_settings(prev, st, after_reduce):
                g.append(st)
                group_of[st.id] = group_of[prev.id]
                continue
        groups.append([st])
        group_of[st.id] = len(groups) - 1
    groups, trees = fuse_fanouts(groups, workflow, consumers)

    stage_of_step: dict[str, str] = {}
    for n, g in enumerate(groups, 1):
        for st in g:
            stage_of_step[st.id] = f"s{n}"

    stages: list[Stage] = []
    for n, g in enumerate(groups, 1):
        head = g[0]
        sources = tuple(stage_of_step.get(src, src) for src in head.sources)
        branches = trees.get(n - 1, ())
        opens = _open_positions(g, workflow, branches)
        stages.append(Stage(
            id=f"s{n}", steps=tuple(g), kind=head.kind, sources=sources,
            parallel=head.parallel, timeout=head.timeout, on_error=head.on_error,
            retries=head.retries, open_before=opens, branches=branches))
    return Plan(workflow, tuple(_mark_folds(stages)))


def branch_stage(stage: Stage, n: int, workflow: Workflow) -> Stage:
    """Branch ``n`` of a tree stage as the linear stage it would be alone: the trunk, then
    that branch (its own implicit open where it needs one). Its label is its steps' ids."""
    bounds = [*stage.branches, len(stage.steps)]
    steps = stage.steps[:bounds[0]] + stage.steps[bounds[n]:bounds[n + 1]]
    return replace(stage, id=f"{stage.id}#{n}", steps=steps, branches=(),
                   open_before=_open_positions(list(steps), workflow))


def _open_positions(group: list[StepSpec], workflow: Workflow,
                    branches: tuple[int, ...] = ()) -> tuple[int, ...]:
    """Where an implicit image.open goes: before an image step fed no image.

    An image from another stage arrives as the file it was spilled to: flow's own
    steps read that themselves, a step of other code (``py:``, a plugin) gets an image.
    """
    from steps.registry import BUILTIN_MODULES

    out = []
    for i, st in enumerate(group):
        if st.takes != "image":
            continue
        if branches and i in branches[1:] and not branches[0]:
            continue  # a tree straight from the input: one open, before the first branch
        up = branches[0] - 1 if branches and i in branches else i - 1
        upstream = group[up].gives if up >= 0 else _concat_gives(st.sources, workflow)
        if upstream != "image" or (up < 0 and st.ref.split(":")[0] not in BUILTIN_MODULES):
            out.append(i)
    return tuple(out)


def _concat_gives(sources: Iterable[str], workflow: Workflow) -> str:
    kinds = {_source_gives(s, workflow) for s in sources}
    return kinds.pop() if len(kinds) == 1 else "any"


def _mark_folds(stages: list[Stage]) -> list[Stage]:
    """Fold a map stage into its reduce consumer when the reduce can be computed in pieces."""
    from steps.registry import resolve_ref, step_def

    out = list(stages)
    ids = {s.id for s in out}
    for i, red in enumerate(out):
        if red.kind != "reduce" or red.steps[0].uses.startswith("py:"):
            continue  # planning never imports a py: module (graph and --dry-run run no code)
        sd = step_def(resolve_ref(red.steps[0].ref))
        if sd is None or sd.fold is None:
            continue
        if not ids.intersection(red.sources):  # inputs only: folded in chunks as they are read
            out[i] = _replace(red, folded=True, folds_input=True)
            continue
        if len(red.sources) != 1 or red.parallel.mode == "serial":
            continue
        src = next(j for j, s in enumerate(out) if s.id == red.sources[0])
        if out[src].kind != "map" or sum(1 for s in out if out[src].id in s.sources) != 1:
            continue
        out[src] = _replace(out[src], fold=red.steps[0].id)
        out[i] = _replace(red, folded=True)
    return out


def _replace(stage: Stage, **changes: object) -> Stage:
    from dataclasses import replace

    return replace(stage, **changes)


def render(p: Plan, fmt: str = "text") -> str:
    """The steps and the stages they fuse into, as text, mermaid or dot."""
    if fmt == "mermaid":
        return _mermaid(p)
    if fmt == "dot":
        return _dot(p)
    lines = [f"{p.workflow.name}: {len(p.workflow.steps)} steps in {len(p.stages)} stages"]
    for s in p.stages:
        extra = f", folds into {s.fold}" if s.fold else \
            ", folds its input in chunks" if s.folds_input else ""
        extra += f", tree of {len(s.branches)} branches, one decode" if s.branches else ""
        workers = s.parallel.workers or "auto"
        lines.append(f"  {s.id}  {s.label}  [{s.kind}, {s.mode}×{workers}{extra}]"
                     f"  <- {', '.join(s.sources)}")
        for i, st in enumerate(s.steps):
            arm = f"branch {s.branches.index(i) + 1}: " if i in s.branches else ""
            lines.append(f"        {arm}{st.id}: {st.uses}")
    return "\n".join(lines)


def _edges(p: Plan) -> list[tuple[str, str]]:
    return [(src, s.id) for s in p.stages for src in s.sources]


def _mermaid(p: Plan) -> str:
    out = ["flowchart LR"]
    for inp in p.workflow.inputs:
        out.append(f'  {inp.name}[("{inp.name}")]')
    for s in p.stages:
        out.append(f'  {s.id}["{s.label}<br/>{s.mode}"]')
    out += [f"  {a} --> {b}" for a, b in _edges(p)]
    return "\n".join(out)


def _dot(p: Plan) -> str:
    out = [f'digraph "{p.workflow.name}" {{', "  rankdir=LR;"]
    for inp in p.workflow.inputs:
        out.append(f'  "{inp.name}" [shape=cylinder];')
    for s in p.stages:
        out.append(f'  "{s.id}" [shape=box, label="{s.label}\\n{s.mode}"];')
    out += [f'  "{a}" -> "{b}";' for a, b in _edges(p)]
    out.append("}")
    return "\n".join(out)
