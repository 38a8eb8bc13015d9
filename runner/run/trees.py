"""A tree stage's chain: where its branches start, the one-decode step, each branch alone.

The plan says where each branch starts among the stage's steps
(:mod:`runner.fanout`); the chain holds the implicit ``image.open`` too, so the
positions move. :func:`branch_chain` gives one branch as the linear chain it
would be on its own (trunk then branch), for a signature per branch.
"""

from __future__ import annotations

from typing import Any

from runner.execute.base import Chain, ChainStep
from runner.plan import Stage

SHARE_REF = "steps.image_share:share"  # decodes an opened image once, for every branch
HEADS_REF = "steps.image_share:share_heads"  # that, and every branch's resize from it


def tree_fields(stage: Stage, at: list[int]) -> dict[str, Any]:
    """The Chain fields of a tree stage (none for a plain chain).

    ``at``: where each of the stage's steps landed in the chain.
    """
    if not stage.branches:
        return {}
    from steps.image_share import cascades  # image knowledge stays with the steps

    heads = tuple((stage.steps[b].uses, tuple(sorted(stage.steps[b].args.as_dict().items())))
                  for b in stage.branches)
    first = stage.branches[0]
    named = stage.steps[first - 1] if first else stage.steps[0]
    both = all(cascades(name, dict(args)) for name, args in heads)
    share = ChainStep(id=named.id, ref=HEADS_REF if both else SHARE_REF, kind="map",
                      args=(("heads", heads),), retries=named.retries)
    return {"branches": tuple(at[b] for b in stage.branches), "share": share,
            "share_heads": both}


def branch_chain(chain: Chain, n: int) -> Chain:
    """Branch ``n`` of a tree chain as a chain of its own: the trunk, then that branch."""
    bounds = [*chain.branches, len(chain.steps)]
    steps = chain.steps[:chain.branches[0]] + chain.steps[bounds[n]:bounds[n + 1]]
    return Chain(steps=steps, spill_dir=chain.spill_dir, timeout=chain.timeout)
