"""``flow``: argument parsing, printing and exit codes only; the work is done by the
modules each command calls (api for a run, compile for loading, plan for the graph).

Exit codes by kind: 2 the user's mistake (a FlowError), 1 failed items (the run's
own code), 3 any other exception, which is a bug in flow, 130 interrupted.
Heavy modules (Pillow, rich, jsonschema) are imported only by the commands
that need them, so ``flow validate`` starts fast.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from runner.commands import docs as docs_command
from runner.commands import init as init_command
from runner.commands import steps as steps_command
from runner.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, FlowError

if TYPE_CHECKING:  # only for hints: the commands import what they need when they run
    from runner.model import Workflow
    from runner.run.prepare import Prepared

USAGE_EXAMPLES = """examples:
  flow run workflows/resize.yaml -p size=128
  flow run workflows/resize.yaml --dry-run
  flow explain workflows/resize.yaml 'photos/*.jpg'
  flow validate workflows/*.yaml
  flow graph workflows/resize.yaml --format mermaid
  flow steps image.resize
"""


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="flow", description="Run declarative batch workflows on every CPU core.",
        epilog=USAGE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    from runner import __version__

    ap.add_argument("--version", action="version", version=f"flow {__version__}")
    # Not required: `flow` alone prints this help (see main).
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("run", help="run a workflow")
    r.add_argument("workflow")
    r.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                   help="set a param (the value is read as YAML: 3, true, [1, 2])")
    r.add_argument("-j", "--jobs", type=_jobs, metavar="N", help="at most N worker processes")
    r.add_argument("--executor", choices=["local", "dask"], help="where to run (default local)")
    r.add_argument("--scheduler", metavar="ADDR", help="a Dask scheduler address")
    r.add_argument("--workdir", metavar="DIR", help="where paths resolve (default: here)")
    r.add_argument("--force", action="store_true", help="redo items that are up to date")
    r.add_argument("--only-failed", action="store_true",
                   help="run only the items that failed last time")
    r.add_argument("--no-wait", action="store_true",
                   help="refuse (exit 2) rather than wait when another run uses this folder")
    r.add_argument("--dry-run", action="store_true",
                   help="show what would run and why, and how long it would take; run nothing")
    r.add_argument("--report", metavar="FILE", help="write a JSON report of the run")
    r.add_argument("--json", action="store_true", help="JSON Lines events on stdout")
    r.add_argument("--no-live", action="store_true", help="plain lines instead of the table")
    r.add_argument("--allow-outside", action="store_true",
                   help="let outputs be written outside the working directory")
    _verbose(r, "tracebacks of failed items and of an internal error")
    r.add_argument("--worker-memory", type=_whole(0), metavar="MB",
                   help="cap each worker's memory; an item past it fails 'out of memory' "
                   "(0: no cap)")
    r.add_argument("--recycle", type=_whole(0), metavar="N",
                   help="replace each worker after N tasks (leaky steps; 0: never)")

    v = sub.add_parser("validate", help="check workflow files")
    v.add_argument("workflows", nargs="+")
    v.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    v.add_argument("--workdir", metavar="DIR")
    _verbose(v)

    g = sub.add_parser("graph", help="show the steps and the stages they fuse into")
    g.add_argument("workflow")
    g.add_argument("--format", choices=["text", "mermaid", "dot"], default="text")
    g.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    _verbose(g)

    _verbose(steps_command.add_parser(sub))
    _verbose(init_command.add_parser(sub))
    _verbose(docs_command.add_parser(sub))  # not in the help: for people working on flow

    _verbose(sub.add_parser("schema", help="print the JSON Schema of workflow files"))

    e = sub.add_parser("explain", help="say whether items would run, and why")
    e.add_argument("workflow")
    e.add_argument("items", nargs="+", metavar="ITEM", help="a path or a glob ('photos/*.jpg')")
    e.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    e.add_argument("--workdir", metavar="DIR")
    _verbose(e)
    return ap


def _whole(least: int):  # noqa: ANN202 - an argparse type
    """An argparse type: a whole number of at least ``least``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = least - 1
        if value < least:
            raise argparse.ArgumentTypeError(
                f"expected a whole number of {least} or more, got '{text}'")
        return value
    return parse


def _verbose(p: argparse.ArgumentParser, what: str = "the traceback of an internal error") -> None:
    p.add_argument("--verbose", "-v", action="store_true", help=what)


def _jobs(text: str) -> int:
    """``-j N``: a whole number of workers, at least one (argparse reports the rest)."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of workers, 1 or more; got '{text}'")
    return n


def _params(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name:
            raise FlowError.single(f"-p expects NAME=VALUE, got '{pair}'", file="command line")
        out[name.strip()] = value
    return out


def print_error(err: FlowError) -> None:
    """Every problem, with the offending line under it, on stderr."""
    cache: dict[str, list[str] | None] = {}
    for prob in err.problems:
        f = prob.pos.file
        if f not in cache:
            cache[f] = None
            try:
                if stat.S_ISREG(os.stat(f).st_mode):  # never open a FIFO: it would hang
                    with open(f, encoding="utf-8", errors="replace") as fh:
                        cache[f] = fh.read().splitlines()
            except (OSError, ValueError):
                pass
        print(prob.render(cache[f]), file=sys.stderr)
    n = len(err.problems)
    if n > 1:
        print(f"{n} errors", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``flow`` command; returns the exit code."""
    code = _command(argv)
    # Only now, with every frame of the command gone (and what it held freed), end what
    # a run started (see runner.run.reaper); a command that did not load api ran nothing.
    api = sys.modules.get("runner.api")
    if api is not None:
        try:
            api.release_processes()
        except KeyboardInterrupt:  # a second Ctrl-C: what is left goes with flow's exit
            return EXIT_INTERRUPTED
    return code


def _command(argv: Sequence[str] | None) -> int:
    verbose = False
    try:
        parser = _parser()
        args = parser.parse_args(argv)
        if args.command is None:
            # Asking for nothing is asking what there is: the help, and no error (exit 0).
            parser.print_help()
            return EXIT_OK
        verbose = args.verbose
        return COMMANDS[args.command](args)
    except FlowError as err:
        print_error(err)
        return err.exit_code
    except KeyboardInterrupt:
        from runner.commands.signals import exit_code

        print("interrupted", file=sys.stderr)
        return exit_code(EXIT_INTERRUPTED)
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - anything else is a bug in flow, not the user's
        if _caused_by_ctrl_c(exc):
            print("interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        print_internal_error(exc, verbose)
        return EXIT_INTERNAL


def _caused_by_ctrl_c(exc: BaseException) -> bool:
    """Whether a KeyboardInterrupt is behind ``exc`` (Python wraps one raised while a
    class is made, e.g. a dataclass being imported, in a RuntimeError)."""
    seen = 0
    cause: BaseException | None = exc
    while cause is not None and seen < 20:
        if isinstance(cause, KeyboardInterrupt):
            return True
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    return False


def print_internal_error(exc: BaseException, verbose: bool) -> None:
    """A bug in flow, on stderr: what and where in two lines, the traceback under --verbose."""
    import traceback

    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    text = str(exc).strip().splitlines()
    what = type(exc).__name__ + (f": {text[0]}" if text else "")
    print(f"internal error in flow: {what}{_where(exc)}", file=sys.stderr)
    print("this is a bug in flow, not in your workflow: please report it to flow's developers "
          "with the output of the same command run with --verbose", file=sys.stderr)


def _where(exc: BaseException) -> str:
    """`` (at runner/x.py:12)``: the innermost frame in flow's own code, if any."""
    import traceback

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        rel = os.path.relpath(os.path.abspath(frame.filename), root)
        if rel.split(os.sep)[0] in ("runner", "steps"):
            return f" (at {rel}:{frame.lineno})"
    return ""


def _load(path: str, params: Sequence[str], workdir: str | None, allow_outside: bool = False):
    from runner.compile.build import load_workflow

    return load_workflow(path, _params(params), workdir=workdir, allow_outside=allow_outside)


def cmd_validate(args: argparse.Namespace) -> int:
    """``flow validate``: every file checked, every error printed; 0 or 2."""
    problems = []
    for path in args.workflows:
        try:
            _load(path, args.param, args.workdir)
            print(f"{path}: ok")
        except FlowError as err:
            problems.extend(err.problems)
    if problems:
        print_error(FlowError(problems))
        return EXIT_INVALID
    return EXIT_OK


def cmd_graph(args: argparse.Namespace) -> int:
    """``flow graph``: the steps and their stages, as text, mermaid or dot."""
    from runner.plan import plan, render

    print(render(plan(_load(args.workflow, args.param, None)), args.format))
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    """``flow schema``: the workflow JSON Schema, for editors."""
    from runner.compile.schema import workflow_schema
    from steps.registry import load_registry

    print(json.dumps(workflow_schema(load_registry()), indent=2))
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """``flow run``: prepare, run with a reporter, summarise; the run's exit code.

    Every process the run starts ends with it, whichever way it ends (:func:`main`
    ends them once the command is over).
    """
    from runner.commands.signals import end_on_terminate, exit_code
    from runner.run.reaper import claim as claim_processes
    from runner.run.warm import warm_up

    claim_processes()
    end_on_terminate()
    # --scheduler alone means Dask: an address is only ever a Dask scheduler's.
    if args.scheduler and args.executor is None:
        args.executor = "dask"
    if not args.dry_run and args.executor != "dask":
        # First, before the engine's imports: the fork server imports the step modules
        # and Pillow on another core meanwhile (see runner.run.warm).
        warm_up()
    from runner import api
    from runner.report.select import choose_kind, make_reporter
    from runner.report.summary import render_summary, write_report
    from runner.run.session import open_session
    wf = _load(args.workflow, args.param, args.workdir, args.allow_outside)
    # The command line wins over the workflow's `executor:`; no address: a local cluster.
    executor = args.executor or wf.executor.kind
    scheduler = (args.scheduler or wf.executor.address) if executor == "dask" else None
    opts = api.RunOptions(jobs=args.jobs, allow_outside=args.allow_outside, force=args.force,
                          executor=executor, scheduler=scheduler,
                          max_tasks_per_worker=args.recycle,
                          worker_memory_mb=args.worker_memory, only_failed=args.only_failed,
                          wait=not args.no_wait)
    prep = _prepare(wf, args.allow_outside)
    if args.dry_run:
        from runner.commands.plan import plan_text

        print(plan_text(wf, prep, opts))
        return EXIT_OK
    session = open_session(wf.workdir, wf.path, opts.wait,
                           lambda msg: print(f"flow: {msg}", file=sys.stderr, flush=True))
    try:
        if session.notice:
            print(f"flow: {session.notice}", file=sys.stderr)
        if args.jobs is not None:
            _say_workers(prep, args.jobs)
        kind = choose_kind(sys.stdout, args.json, args.no_live)
        reporter = make_reporter(kind, sys.stdout, args.verbose)
        try:
            result = api.run(wf, reporter, opts, prepared=prep, session=session)
        finally:
            reporter.close()
    finally:
        session.close()
    unwritten = ""
    if args.report:
        try:
            write_report(result, os.path.abspath(args.report))
        except FlowError as err:  # the run is over and told: its exit code stands
            unwritten = err.summary()
    # With --json, stdout stays pure JSON Lines; the human summary goes to stderr. The
    # live table's last frame is the per-stage account: the summary does not repeat it.
    out = sys.stderr if args.json else sys.stdout
    text = render_summary(result, args.verbose, stages=kind != "live")
    if result.failures and result.state != "interrupted":
        text += "\n\nto run only the failed items again, add --only-failed to this command"
    try:
        print(text, file=out, flush=True)
    except BrokenPipeError:
        _quiet_stdout()  # `flow run … | head`: the reader left; the run's code still holds
    if unwritten:
        print(unwritten, file=sys.stderr, flush=True)
    return exit_code(result.exit_code)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush finds no broken pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _say_workers(prep, jobs: int) -> None:
    """One line on stderr when the machine's CPUs, not -j, set the number of workers."""
    from runner import api

    used = api.pool_size(prep, jobs)
    if used < api.pool_size(prep, jobs, cpus=jobs):
        cpus = api.usable_cpus()
        print(f"using {used} worker{'s' * (used != 1)} (-j {jobs}): "
              f"this machine has {cpus} CPU{'s' * (cpus != 1)}", file=sys.stderr)

def _prepare(wf: Workflow, allow_outside: bool) -> Prepared:
    """Plan and check a workflow before its folder is locked (a refused workflow leaves no
    trace), its output check skipped when the journal says these very paths passed it."""
    from runner import api
    from runner.files.journal import Journal

    hints, _ = Journal.for_reading(wf.workdir, verify=False)
    try:
        return api.prepare(wf, allow_outside, hints.checked)
    finally:
        hints.close()


def cmd_explain(args: argparse.Namespace) -> int:
    """``flow explain``: for each matching item, would it run, and why."""
    from runner.commands.explain import explain_text

    wf = _load(args.workflow, args.param, args.workdir)
    print(explain_text(wf, _prepare(wf, False), args.items))
    return EXIT_OK


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "graph": cmd_graph,
            "steps": steps_command.run, "schema": cmd_schema, "init": init_command.run,
            "docs": docs_command.run, "explain": cmd_explain}
