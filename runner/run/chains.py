"""A stage's fused steps as workers run them, and where its per-item outputs go.

:func:`build_chain` turns a planned :class:`Stage` into a :class:`StageChain`: the
implicit ``image.open`` inserted, static output paths resolved, per-item output
templates kept for :func:`item_outs`, and the signature of what makes them.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from runner.execute.base import Chain, ChainStep
from runner.files.inputs import Item
from runner.files.journal import signature
from runner.files.outputs import Resolver, fill
from runner.model import StepSpec
from runner.plan import Stage, open_ref


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
    sig: str = ""  # what made the outputs: see runner.files.journal.signature

    @property
    def skippable(self) -> bool:
        """Up-to-date items can be skipped when the chain ends by writing their output.

        The item's value is then that output's path, known without running anything.
        """
        last = len(self.chain.steps) - 1
        return bool(self.outputs) and self.outputs[-1].chain_pos == last \
            and self.outputs[-1].step.gives == "path"


def build_chain(stage: Stage, resolver: Resolver, spill_dir: str | None,
                fold_step: StepSpec | None, returns: bool = True) -> StageChain:
    """The ChainSteps of a stage: image.open inserted, static outputs resolved.

    ``returns``: whether a later stage (or the run's result) needs its values.
    """
    steps: list[ChainStep] = []
    outputs: list[OutputArg] = []
    static_paths: list[str] = []
    for i, st in enumerate(stage.steps):
        if i in stage.open_before:
            steps.append(ChainStep(id=st.id, ref=open_ref(), kind="map", retries=st.retries))
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
    chain = Chain(steps=tuple(steps), fold=fold, spill_dir=spill_dir, timeout=stage.timeout,
                  root=None if resolver.allow_outside else resolver.workdir,
                  returns=returns)
    sig = signature(chain, [o.template for o in outputs])
    return StageChain(chain, tuple(outputs), tuple(static_paths), sig)


def item_outs(sc: StageChain, item: Item, resolver: Resolver) -> tuple:
    """``((chain_pos, arg, path), ...)`` for one item."""
    return tuple((o.chain_pos, o.arg, resolver.resolve(
        fill(o.template, item, pos=o.step.pos), pos=o.step.pos,
        where=f"steps.{o.step.id}.with.{o.arg}")) for o in sc.outputs)
