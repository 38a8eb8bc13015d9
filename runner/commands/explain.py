"""``flow explain WF ITEM...``: for each matching item, would it run in each stage, and why.

An ITEM is a path (relative to the working directory or absolute) or a glob
(``photos/*.jpg``, ``**/a*.png``), matched against each item's file below the
working directory, or against its value. The stages judged as a whole (reduces,
ranges) are said once, after the items. Nothing runs and nothing is written.
"""

from __future__ import annotations

import fnmatch
import itertools
import os
from collections.abc import Sequence

from runner.errors import FlowError
from runner.files.inputs import Item
from runner.files.journal import Journal
from runner.model import Workflow
from runner.plan import Stage
from runner.run.forecast import describe, forecast
from runner.run.orchestrate import RunOptions, judge_for, stage_workers
from runner.run.prepare import Prepared
from runner.run.uptodate import MEANING, UP_TO_DATE, Verdict

MAGIC = set("*?[")
MAX_VALUES = 20  # values of a range or list named at the most


def explain_text(workflow: Workflow, prep: Prepared, patterns: Sequence[str],
                 options: RunOptions | None = None) -> str:
    """What would happen to each item matching ``patterns``; FlowError when none does."""
    options = options or RunOptions()
    match = _matcher(patterns, workflow.workdir)
    found: dict[str, list[tuple[str, Verdict]]] = {}

    def hear(st: Stage, it: Item, v: Verdict) -> None:
        name = describe(it, workflow.workdir)
        if match(name, it):
            found.setdefault(name, []).append((st.label, v))
            # A tree: each branch is up to date on its own, and runs alone when it is not.
            for arm, b in zip(st.arms, judge.branches.get(st.id, ()), strict=False):
                found[name].append((f"  branch {arm}", judge.items(b.stage, [it])[0][0]))

    journal, notice = Journal.for_reading(workflow.workdir)
    judge = judge_for(workflow, prep, journal, options)
    try:
        fcs = forecast(prep, judge, lambda st, n: stage_workers(st, options.jobs, n), hear)
        wholes = [(fc.stage, judge.stage(fc.stage)) for fc in fcs if fc.whole]
    finally:
        judge.snap.close()
        journal.close()
    if not found:  # numbers and values live in stages judged as a whole: name those
        for name, src in prep.sources.items():
            if src.kind == "glob":
                continue
            hits = [repr(v) for v in itertools.islice(
                (it.value for it in src.items() if match(repr(it.value), it)), MAX_VALUES)]
            for hit in hits:
                found[f"{hit} (from {name}, judged with all its items as a whole)"] = []
    if not found:
        shown = ", ".join(repr(p) for p in patterns)
        raise FlowError.single(
            f"no item of {workflow.name} matches {shown}", file="command line",
            hint="name an item by its file below the working directory (photos/a.jpg), "
                 "a glob (photos/*.jpg) or its value")
    lines = [f"note: {notice}"] if notice else []
    for name, verdicts in found.items():
        lines.append(name)
        lines.extend(f"  {label}: {_say(v)}" for label, v in verdicts)
    if wholes:
        lines.append("all items together")
        lines.extend(f"  {st.label}: {_say(v)}" for st, v in wholes)
    return "\n".join(lines)


def _say(v: Verdict) -> str:
    if not v.run:
        if v.reason == UP_TO_DATE:
            return "up to date" + ("" if v.passed else " (dropped by a filter step)")
        return f"not run: {MEANING.get(v.reason, v.reason)}"
    return f"runs: {v.reason} ({MEANING.get(v.reason, v.reason)})"


def _matcher(patterns: Sequence[str], workdir: str):
    """Does an item (named as the user sees it) match one of ``patterns``?"""
    exact, globs = set(), []
    for p in patterns:
        if MAGIC & set(p):
            globs.append(p)
        else:
            exact.add(os.path.normpath(p))
            full = os.path.abspath(p)
            exact.add(os.path.relpath(full, workdir) if full.startswith(workdir) else full)

    def match(name: str, it: Item) -> bool:
        if name in exact or (it.source is None and str(it.value) in exact):
            return True
        return any(fnmatch.fnmatchcase(name, g) or (it.source is None and
                                                   fnmatch.fnmatchcase(str(it.value), g))
                   for g in globs)

    return match
