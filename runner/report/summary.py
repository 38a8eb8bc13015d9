"""What the user reads when a run is over, and the ``--report FILE`` document.

:func:`render_summary` gives plain text (the CLI prints it under the table or
the lines): how the run ended, counts per stage, the failed items with their
one-line reasons, the notices, the results and where the outputs are.
:func:`write_report` writes ``RunResult.to_json()`` atomically: a reader
never finds half a report.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from runner.errors import FlowError
from runner.report.board import failure_line, fmt_mode, fmt_seconds, one_line
from runner.report.escape import encodable, printable
from runner.report.events import FailureRecord, RunResult

# Failed items listed without --verbose; the report and --verbose carry them all.
FAILURES_LISTED = 20
VALUE_WIDTH = 100


def render_summary(result: RunResult, verbose: bool = False) -> str:
    """The end-of-run text: headline, per-stage counts, failures, notices, results, outputs."""
    out = [_headline(result)]
    if result.stopped_by is not None:
        out.append("  stopped by: " + _failure(result.stopped_by))
    if result.stages:
        out.append("")
        out.extend(_stage_table(result))
    if result.failures:
        out.append("")
        out.extend(_failures(result.failures, verbose))
    if result.notices:
        out.append("")
        out.append("notices:")
        out.extend(f"  {one_line(n)}" for n in result.notices)
    if result.values:
        out.append("")
        out.append("results:")
        for name, value in result.values.items():
            out.append(f"  {name}: {one_line(repr(value), VALUE_WIDTH)}")
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
        lines.append(f"  … and {n - len(shown)} more (--verbose or --report FILE lists them all)")
    return lines


def write_report(result: RunResult, path: str | os.PathLike[str]) -> None:
    """Write the ``--report`` JSON to ``path``: whole or not at all (temp file, then rename).

    Raises FlowError (exit 2) when the file cannot be written, naming the path.
    """
    target = Path(path)
    text = json.dumps(encodable(result.to_json()), indent=2, default=str,
                      ensure_ascii=False) + "\n"
    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                   dir=target.parent)
        os.chmod(tmp, _file_mode(target))  # mkstemp makes 0600; a report is for sharing
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise FlowError.single(f"cannot write the report: {exc.strerror or exc}",
                               file=str(target)) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _file_mode(target: Path) -> int:
    """The mode the report should have: the old file's, else what the umask allows."""
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask
