"""``flow run --dry-run``: the plan of a run, read from the journal; nothing runs.

Per stage: how many items would run and how many are up to date, why they would
run (with a few of them named), and an estimate of the time from what those
items took before. The journal is only read; a run going on meanwhile is fine.
"""

from __future__ import annotations

from runner.files.journal import Journal
from runner.model import Workflow
from runner.report.board import fmt_seconds, one_line
from runner.run.forecast import StageForecast, estimate, forecast
from runner.run.orchestrate import RunOptions, judge_for, stage_workers
from runner.run.prepare import Prepared


def plan_text(workflow: Workflow, prep: Prepared, options: RunOptions) -> str:
    """The dry run's report (see the module docstring)."""
    journal, notice = Journal.for_reading(workflow.workdir)
    judge = judge_for(workflow, prep, journal, options)
    try:
        fcs = forecast(prep, judge, lambda st, n: stage_workers(st, options.jobs, n))
    finally:
        judge.snap.close()
        journal.close()
    run = sum(fc.run for fc in fcs)
    skip = sum(fc.skip for fc in fcs)
    lines = [f"note: {notice}"] if notice else []
    if run:
        lines.append(f"{workflow.name}: plan (nothing is run): {run} to run, {skip} up to date")
    else:
        lines.append(f"{workflow.name}: up to date: nothing would run ({skip} item"
                     f"{'s' * (skip != 1)} up to date)")
    for name, src in prep.sources.items():
        lines.append(f"  input {name}: {src.count} items")
    width = max(len(fc.stage.label) for fc in fcs)
    for fc in fcs:
        lines.append(f"  {fc.stage.label:<{width}}  {_counts(fc)}")
        for reason, (n, names) in fc.reasons.items():
            shown = ", ".join(one_line(x, 60) for x in names)
            more = ", …" if n > len(names) and names else ""
            lines.append(f"      {reason}: {n}" + (f"  ({shown}{more})" if shown else ""))
    if run:
        lines.append(_estimate(fcs))
    return "\n".join(lines)


def _counts(fc: StageForecast) -> str:
    what = "all items, as a whole: " if fc.whole else ""
    if not fc.run:
        return f"{what}up to date ({fc.skip})"
    return f"{what}{fc.run} to run, {fc.skip} up to date"


def _estimate(fcs: list[StageForecast]) -> str:
    secs, untimed = estimate(fcs)
    if untimed and not secs:
        return "estimated time: unknown (the items to run never ran here before)"
    text = f"estimated time: about {fmt_seconds(secs)}, from what these items took before"
    if untimed:
        text += f" (and {untimed} item{'s' * (untimed != 1)} never run before)"
    return text
