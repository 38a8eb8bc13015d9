"""Trees in the plan: branches that start from the same opened image fused into one stage.

Without this, each branch from the same photos is a stage of its own and decodes
every photo again. A fan-out fuses when every branch is a run of map steps that
takes an image, asks for the same settings and feeds nothing outside itself (a
leaf); the trunk is the stage ending at the shared step (or, from an input of
paths, just the implicit ``image.open``). Each branch keeps its own arguments,
outputs and failures (see runner.execute.tree).
"""

from __future__ import annotations

from runner.model import StepSpec, Workflow


def fuse_fanouts(groups: list[list[StepSpec]], workflow: Workflow,
                 consumers: dict[str, list[str]],
                 ) -> tuple[list[list[StepSpec]], dict[int, tuple[int, ...]]]:
    """``groups`` with each fusable fan-out merged: ``(groups, {group index: branch starts})``.

    A branch start is the position in the merged group where that branch begins;
    everything before the first is the trunk.
    """
    head_of = {g[0].id: i for i, g in enumerate(groups)}
    where = {st.id: i for i, g in enumerate(groups) for st in g}
    taken: set[int] = set()
    merged: dict[int, tuple[list[StepSpec], tuple[int, ...]]] = {}
    for node, users in consumers.items():
        trunk = _trunk(node, groups, where, workflow, users)
        if trunk is None or (trunk >= 0 and trunk in taken):
            continue
        branches = [head_of[u] for u in users if u in head_of and head_of[u] not in taken
                    and _leaf(groups[head_of[u]], where, consumers, head_of[u])]
        if trunk >= 0 and len(branches) != len(users):
            continue  # the shared value also goes elsewhere: it must leave the worker
        branches = [b for b in branches if _same(groups[branches[0]][0], groups[b][0])]
        base = groups[trunk] if trunk >= 0 else []
        if len(branches) < 2 or (base and not _same(base[-1], groups[branches[0]][0])):
            continue
        steps, starts = list(base), []
        for b in branches:
            starts.append(len(steps))
            steps.extend(groups[b])
        at = trunk if trunk >= 0 else branches[0]
        merged[at] = (steps, tuple(starts))
        taken.update(branches + ([trunk] if trunk >= 0 else []))
    out: list[list[StepSpec]] = []
    starts_of: dict[int, tuple[int, ...]] = {}
    for i, g in enumerate(groups):
        if i in merged:
            starts_of[len(out)] = merged[i][1]
            out.append(merged[i][0])
        elif i not in taken:
            out.append(g)
    return out, starts_of


def _trunk(node: str, groups: list[list[StepSpec]], where: dict[str, int],
           workflow: Workflow, users: list[str]) -> int | None:
    """The group a fan-out from ``node`` grows from; -1: an input of paths; None: none."""
    if len(users) < 2:
        return None
    inp = workflow.input(node)
    if inp is not None:
        return -1 if type(inp.source).__name__ == "GlobSource" else None
    i = where.get(node)
    if i is None or groups[i][-1].id != node or any(s.kind != "map" for s in groups[i]):
        return None
    return i if groups[i][-1].gives == "image" else None


def _leaf(group: list[StepSpec], where: dict[str, int], consumers: dict[str, list[str]],
          index: int) -> bool:
    """A branch: map steps from one source, taking an image, feeding nothing outside."""
    head = group[0]
    if len(head.sources) != 1 or head.takes != "image" or any(s.kind != "map" for s in group):
        return False
    return all(where.get(u) == index for st in group for u in consumers.get(st.id, ()))


def _same(a: StepSpec, b: StepSpec) -> bool:
    return (a.timeout, a.on_error, a.retries, a.parallel) == \
        (b.timeout, b.on_error, b.retries, b.parallel)
