"""Each branch of a tree judged and recorded on its own: one output up to date does not
skip the others, and one stale output does not remake the others.

A tree stage runs every branch on one decode (:mod:`runner.execute.tree`), but what
is up to date is said per branch: each branch is the linear stage it would be alone
(:func:`runner.plan.branch_stage`: the trunk, then that branch), with its own chain,
signature, journal records and slot. Editing one branch's arguments or code, or
deleting one of its outputs, reruns that branch only; a photo whose every branch is
up to date is skipped whole.
"""

from __future__ import annotations

from dataclasses import dataclass

from runner.model import Workflow
from runner.plan import Stage, branch_stage
from runner.run.chains import StageChain, StageSig, build_chain, signature
from runner.run.prepare import Prepared


@dataclass(frozen=True)
class Branch:
    """One branch of a tree stage, as a stage of its own."""

    n: int  # its place among the tree's branches
    stage: Stage  # the trunk and this branch, linear (id ``<tree>#<n>``)
    sc: StageChain  # its chain alone: what its signature and outputs come from
    trunk: int  # chain steps before the branch's own (the same in the tree's chain)
    at: int  # where the branch's own steps start in the tree's chain

    def tree_pos(self, pos: int) -> int:
        """A position in this branch's chain as the same step's position in the tree's."""
        return pos if pos < self.trunk else pos - self.trunk + self.at


def tree_branches(prep: Prepared, workflow: Workflow) -> dict[str, tuple[Branch, ...]]:
    """Every tree stage's branches, by the tree stage's id."""
    out: dict[str, tuple[Branch, ...]] = {}
    for st in prep.plan.stages:
        if not st.branches:
            continue
        tree = prep.chains[st.id].chain
        arms = []
        for n in range(len(st.branches)):
            alone = branch_stage(st, n, workflow)
            sc = build_chain(alone, prep.resolver, tree.spill_dir, None)
            arms.append(Branch(n, alone, sc, tree.branches[0], tree.branches[n]))
        out[st.id] = tuple(arms)
    return out


def branch_signatures(branches: dict[str, tuple[Branch, ...]], sigs: dict[str, StageSig],
                      workflow: Workflow) -> dict[str, StageSig]:
    """Each branch's signature (by its stage id), holding its sources' as a stage's does."""
    return {b.stage.id: signature(b.sc, [sigs.get(src) for src in b.stage.sources], workflow)
            for arms in branches.values() for b in arms}
