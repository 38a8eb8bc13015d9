"""A stage's fused steps as workers run them, and where its per-item outputs go.

:func:`build_chain` turns a planned :class:`Stage` into a :class:`StageChain`: the
implicit ``image.open`` inserted, static output paths resolved, per-item output
templates kept for :func:`item_outs`. :func:`stage_signatures` says what makes a
stage's results, for the journal: the steps, their arguments (params already in
them), the output templates, flow's version and the code of the steps' modules,
each stage's signature holding those of the stages before it.
"""

from __future__ import annotations

import functools
import os
import string
from collections.abc import Callable
from dataclasses import dataclass

from runner import __version__
from runner.execute.base import Chain, ChainStep
from runner.files.codehash import code_digest
from runner.files.identity import digest
from runner.files.inputs import Item
from runner.files.outputs import Resolver, fill
from runner.model import StepSpec, Workflow
from runner.plan import Plan, Stage, open_ref
from runner.run.trees import tree_fields


def has_fields(template: str) -> bool:
    """True when ``template`` uses a per-item field such as ``{stem}``."""
    return any(name for _, name, _, _ in string.Formatter().parse(template))


@dataclass(frozen=True)
class OutputArg:
    """A per-item output argument of one step, at its place in the chain."""

    chain_pos: int
    arg: str
    template: str
    step: StepSpec


@dataclass(frozen=True)
class StageChain:
    """A stage's chain as workers run it, and where its per-item outputs go."""

    chain: Chain
    outputs: tuple[OutputArg, ...]
    static_paths: tuple[str, ...]  # outputs with no per-item field, resolved
    fold_chain: Chain | None = None  # a reduce fed by inputs: what folds a chunk of them


def build_chain(stage: Stage, resolver: Resolver, spill_dir: str | None,
                fold_step: StepSpec | None) -> StageChain:
    """The ChainSteps of a stage: image.open inserted, static outputs resolved."""
    steps: list[ChainStep] = []
    outputs: list[OutputArg] = []
    static_paths: list[str] = []
    at: list[int] = []  # where each of the stage's steps lands in the chain
    for i, st in enumerate(stage.steps):
        if i in stage.open_before:
            steps.append(ChainStep(id=st.id, ref=open_ref(), kind="map", retries=st.retries))
        at.append(len(steps))
        args = st.args.as_dict()
        for name in st.outputs:
            tmpl = args.get(name)
            if not isinstance(tmpl, str):
                continue
            if has_fields(tmpl):
                outputs.append(OutputArg(len(steps), name, tmpl, st))
            else:
                args[name] = resolver.resolve(tmpl, pos=st.pos, where=f"steps.{st.id}.with.{name}")
                static_paths.append(args[name])
        folded = stage.folded and i == 0
        steps.append(ChainStep(id=st.id, ref=st.ref, kind=st.kind,
                               args=tuple(sorted(args.items())), retries=st.retries, fold=folded))
    fold = None
    if fold_step is not None:
        fold = ChainStep(id=fold_step.id, ref=fold_step.ref, kind="reduce",
                         args=tuple(sorted(fold_step.args.as_dict().items())), fold=True)
    root = None if resolver.allow_outside else resolver.workdir
    chain = Chain(steps=tuple(steps), fold=fold, spill_dir=spill_dir, timeout=stage.timeout,
                  root=root, **tree_fields(stage, at))
    # A reduce fed by inputs: a chain of no step that folds a chunk of them into it.
    chunks = Chain(steps=(), fold=steps[at[0]], timeout=stage.timeout, root=root) \
        if stage.folds_input else None
    return StageChain(chain, tuple(outputs), tuple(static_paths), chunks)


def out_key(sc: StageChain, item: Item) -> str:
    """What an item's output paths depend on besides its identity (its file, or its
    value): its index where a template has ``{index}``, its glob's folder where one has
    ``{relpath}``. Equal keys under one signature mean equal paths, known without
    filling the templates again."""
    return out_keyer(sc)(item)


def out_keyer(sc: StageChain) -> Callable[[Item], str]:
    """:func:`out_key` for the items of one stage (the templates read once)."""
    uses = _uses(tuple(o.template for o in sc.outputs))
    index, relpath = "index" in uses, "relpath" in uses
    if index and relpath:
        return lambda it: f"{it.index}\0{it.root}"
    if index:
        return lambda it: f"{it.index}\0"
    if relpath:
        return lambda it: f"\0{it.root}"
    return lambda it: "\0"


@functools.lru_cache(maxsize=256)
def _uses(templates: tuple[str, ...]) -> frozenset[str]:
    return frozenset(name for t in templates for _, name, _, _ in string.Formatter().parse(t)
                     if name)


def planned_outs(sc: StageChain, item: Item, resolver: Resolver) -> tuple[str, ...]:
    """Where an item's outputs go, without the checks :func:`item_outs` makes (the run
    made them for every item before it started): what an up-to-date check compares."""
    base = resolver.workdir
    return tuple(os.path.normpath(os.path.join(base, fill(o.template, item, pos=o.step.pos)))
                 for o in sc.outputs)


def item_outs(sc: StageChain, item: Item, resolver: Resolver) -> tuple:
    """``((chain_pos, arg, path), ...)`` for one item."""
    return tuple((o.chain_pos, o.arg, resolver.resolve(
        fill(o.template, item, pos=o.step.pos), pos=o.step.pos,
        where=f"steps.{o.step.id}.with.{o.arg}")) for o in sc.outputs)


@dataclass(frozen=True)
class StageSig:
    """What makes a stage's results, as digests (see :func:`stage_signatures`)."""

    sig: str  # the journal's key: settings and code together
    settings: str  # steps, arguments, output templates, flow's version, the working directory
    code: str  # the source of the steps' modules


def stage_signatures(plan: Plan, chains: dict[str, StageChain],
                     workflow: Workflow) -> dict[str, StageSig]:
    """Each stage's signature, holding those of the stages it takes from.

    Timeouts, retries and parallel settings are left out: they change how a result is
    made, not what it is. The working directory is in: a value that is a path points
    into it.
    """
    out: dict[str, StageSig] = {}
    for st in plan.stages:  # sources come first
        out[st.id] = signature(chains[st.id], [out.get(src) for src in st.sources], workflow)
    return out


def signature(sc: StageChain, ups: list[StageSig | None], workflow: Workflow) -> StageSig:
    """One stage's signature from its chain and its sources' (None: an input)."""
    paths = (os.path.dirname(os.path.abspath(workflow.path)),)
    own = repr(([(s.ref, s.args) for s in sc.chain.steps],
                [(o.chain_pos, o.arg, o.template) for o in sc.outputs]))
    settings = digest("flow", __version__, workflow.workdir, own,
                      *(u.settings if u else "input" for u in ups))
    code = digest(*sorted({code_digest(s.ref, paths) for s in sc.chain.steps}),
                  *(u.code if u else "input" for u in ups))
    return StageSig(digest(settings, code), settings, code)
