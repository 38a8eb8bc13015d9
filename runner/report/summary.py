"""What the user reads when a run is over, and the ``--report FILE`` document.

:func:`render_summary` gives plain text (the CLI prints it under the table or
the lines): how the run ended, counts per stage (unless the live table's last
frame, left on screen just above, already shows them: one account, not two), the
failed items with their one-line reasons (listed here only, up to a limit), the
notices, the results (as JSON, with what a partial one misses) and where the
outputs are.
:func:`write_report` writes ``RunResult.to_json()`` atomically: a reader
never finds half a report.
"""

from __future__ import annotations

import json
import os

from runner.errors import FlowError, os_reason
from runner.report.board import failure_line, fmt_mode, fmt_seconds, one_line, wrote_line
from runner.report.escape import encodable, printable
from runner.report.events import FailureRecord, RunResult

# Failed items listed without --verbose; the report and --verbose carry them all.
FAILURES_LISTED = 20


def render_summary(result: RunResult, verbose: bool = False, stages: bool = True) -> str:
    """The end-of-run text: headline, per-stage counts (``stages``), failures, notices,
    results, outputs."""
    out = [_headline(result)]
    if result.stopped_by is not None:
        out.append("  stopped by: " + _failure(result.stopped_by))
    if result.stages and stages:
        out.append("")
        out.extend(_stage_table(result))
    if result.failures:
        out.append("")
        out.extend(_failures(result.failures, verbose))
    if result.notices:
        out.append("")
        out.append("notices:")
        out.extend(f"  {one_line(n)}" for n in result.notices)
    if result.item_notices:
        out.append("")
        out.extend(_item_notices(result, verbose))
    if result.values or result.missing:
        out.append("")
        out.append("results:")
        out.extend(_results(result))
    if result.outputs:
        out.append("")
        out.append("outputs:")
        out.extend(f"  {printable(path)}" for path in result.outputs)
    return "\n".join(out)


def _headline(result: RunResult) -> str:
    took = fmt_seconds(result.seconds)
    name = result.workflow
    failed = len(result.failures)
    if result.state == "interrupted":
        return f"{name}: interrupted after {took}"
    if result.state == "stopped":
        return f"{name}: stopped at a failed item (on_error: stop) after {took}"
    if failed:
        return f"{name}: finished in {took} with {failed} failed item{'s' * (failed != 1)}"
    if result.state != "done":
        return f"{name}: {result.state} after {took}"
    done = sum(s.done for s in result.stages)
    skipped = sum(s.skipped for s in result.stages)
    if skipped and not done:
        return f"{name}: up to date ({skipped} item{'s' * (skipped != 1)} skipped) in {took}"
    return f"{name}: done in {took}"


def _stage_table(result: RunResult) -> list[str]:
    """Counts per stage, in aligned columns."""
    head = ("stage", "mode", "done", "failed", "skipped", "time", "state")
    rows = [head] + [
        (s.label, fmt_mode(s.mode, s.workers), str(s.done), str(s.failed), str(s.skipped),
         fmt_seconds(s.seconds), s.state)
        for s in result.stages
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    right = {2, 3, 4, 5}  # numbers line up on the right
    lines = []
    for r in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        lines.append(("  " + "  ".join(cells)).rstrip())
    return lines


def _results(result: RunResult) -> list[str]:
    """A line per final value, as JSON; a partial one says what it misses."""
    lines = []
    names = list(result.values) + [n for n in result.missing if n not in result.values]
    for name in names:
        n = result.missing.get(name, 0)
        items = f"{n} item{'s' * (n != 1)} of its input"
        if name in result.values:
            # Whole, so a script can read it back (the engine keeps small values only).
            text = json.dumps(result.values[name], ensure_ascii=False, default=str)
            if n:
                text += f"  (partial: {items} failed)"
        elif _ended(result, name) == "cancelled":
            text = f"no value: {'all ' * (n > 1)}{items} failed"
        else:  # written to its file, listed under outputs
            text = f"made from part of its input ({items} failed)"
        lines.append(f"  {name}: {text}")
    return lines


def _ended(result: RunResult, step: str) -> str:
    """The state of the stage that ends with ``step``."""
    return next((s.state for s in result.stages if s.label.rsplit("→", 1)[-1] == step), "")


def _failure(f: FailureRecord) -> str:
    return failure_line(f.item, f.step, f.reason, f.attempts)


def _failures(failures: tuple[FailureRecord, ...], verbose: bool) -> list[str]:
    n = len(failures)
    lines = [f"{n} failed item{'s' * (n != 1)}:"]
    shown = failures if verbose else failures[:FAILURES_LISTED]
    for f in shown:
        lines.append("  " + _failure(f))
        if verbose and f.detail:
            lines.extend("      " + text for text in f.detail.rstrip().splitlines())
    if len(shown) < n:
        lines.append(f"  … {n - len(shown)} more (see --report)")
    return lines


def _item_notices(result: RunResult, verbose: bool) -> list[str]:
    """How many items wrote something; under --verbose, what each wrote."""
    count = len(result.item_notices) + result.item_notices_left_out
    if not verbose:
        return [f"{wrote_line(count)}: --verbose shows it, --report FILE keeps it"]
    lines = [f"{wrote_line(count)}:"]
    for note in result.item_notices:
        lines.append(f"  {note.item}:")
        lines.extend("      " + text for text in note.text.rstrip().splitlines())
    if result.item_notices_left_out:
        lines.append(f"  … and {result.item_notices_left_out} more, not kept")
    return lines


def write_report(result: RunResult, path: str | os.PathLike[str]) -> None:
    """Write the ``--report`` JSON to ``path`` through the one atomic writer
    (:mod:`steps.atomic`): whole or not at all, and a replaced report keeps its mode.

    Raises FlowError when the file cannot be written, naming the path and why in a
    few words ("no space left on device"); nothing of the report is left then.
    """
    from steps.atomic import atomic_file

    text = json.dumps(encodable(result.to_json()), indent=2, default=str,
                      ensure_ascii=False) + "\n"
    try:
        with atomic_file(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise FlowError.single(f"cannot write the report: {os_reason(exc)}",
                               file=os.fspath(path)) from None
