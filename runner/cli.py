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
import sys
from collections.abc import Sequence

from runner.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, FlowError

USAGE_EXAMPLES = """examples:
  flow run workflows/resize.yaml -p size=128
  flow validate workflows/*.yaml
  flow graph workflows/resize.yaml --format mermaid
  flow steps image.resize
"""


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="flow", description="Run declarative batch workflows on every CPU core.",
        epilog=USAGE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="run a workflow")
    r.add_argument("workflow")
    r.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                   help="set a param (the value is read as YAML: 3, true, [1, 2])")
    r.add_argument("-j", "--jobs", type=_whole(1), metavar="N",
                   help="at most N worker processes")
    r.add_argument("--executor", choices=["local", "dask"], help="where to run (default local)")
    r.add_argument("--scheduler", metavar="ADDR", help="a Dask scheduler address")
    r.add_argument("--workdir", metavar="DIR", help="where paths resolve (default: here)")
    r.add_argument("--force", action="store_true", help="redo items that are up to date")
    r.add_argument("--dry-run", action="store_true", help="show what would run, run nothing")
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

    s = sub.add_parser("steps", help="list the available steps, or show one")
    s.add_argument("name", nargs="?")
    _verbose(s)

    _verbose(sub.add_parser("schema", help="print the JSON Schema of workflow files"))
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
            try:
                with open(f, encoding="utf-8", errors="replace") as fh:
                    cache[f] = fh.read().splitlines()
            except OSError:
                cache[f] = None
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
        args = _parser().parse_args(argv)
        verbose = args.verbose
        return COMMANDS[args.command](args)
    except FlowError as err:
        print_error(err)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
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


def cmd_steps(args: argparse.Namespace) -> int:
    """``flow steps [NAME]``: the list of steps, or one step's arguments."""
    from steps.registry import load_registry

    reg = load_registry()
    if args.name is None:
        width = max(len(n) for n in reg)
        for name in sorted(reg):
            sd = reg[name]
            print(f"{name:<{width}}  {sd.kind:<6}  {sd.description}")
        return EXIT_OK
    sd = reg.get(args.name)
    if sd is None:
        from runner.errors import did_you_mean

        raise FlowError.single(f"unknown step '{args.name}'{did_you_mean(args.name, reg)}",
                               file="command line")
    print(f"{sd.name} ({sd.kind}): {sd.description}")
    props = sd.schema.get("properties", {})
    required = set(sd.schema.get("required", ()))
    if not props:
        print("  no arguments")
    for key, spec in props.items():
        kind = spec.get("type", "")
        if "enum" in spec:
            kind = " | ".join(map(str, spec["enum"]))
        req = " (required)" if key in required else ""
        default = f" [default: {spec['default']}]" if "default" in spec else ""
        print(f"  {key}: {kind}{req}{default}  {spec.get('description', '')}")
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
    from runner import api

    api.claim_processes()
    from runner.report.select import choose_kind, make_reporter
    from runner.report.summary import render_summary, write_report

    # --scheduler alone means Dask: an address is only ever a Dask scheduler's.
    if args.scheduler and args.executor is None:
        args.executor = "dask"
    if not args.dry_run and args.executor != "dask":
        api.warm_up()  # the fork server imports Pillow while we read the workflow
    wf = _load(args.workflow, args.param, args.workdir, args.allow_outside)
    # The command line wins over the workflow's `executor:`; no address: a local cluster.
    executor = args.executor or wf.executor.kind
    scheduler = (args.scheduler or wf.executor.address) if executor == "dask" else None
    prep = api.prepare(wf, args.allow_outside)
    if args.dry_run:
        from runner.plan import render

        print(render(prep.plan))
        for name, src in prep.sources.items():
            print(f"input {name}: {src.count} items")
        return EXIT_OK
    reporter = make_reporter(choose_kind(sys.stdout, args.json, args.no_live), sys.stdout,
                             args.verbose)
    opts = api.RunOptions(jobs=args.jobs, allow_outside=args.allow_outside, force=args.force,
                          executor=executor, scheduler=scheduler,
                          max_tasks_per_worker=args.recycle,
                          worker_memory_mb=args.worker_memory)
    try:
        result = api.run(wf, reporter, opts, prepared=prep)
    finally:
        reporter.close()
    if args.report:
        write_report(result, os.path.abspath(args.report))
    # With --json, stdout stays pure JSON Lines; the human summary goes to stderr.
    print(render_summary(result, args.verbose), file=sys.stderr if args.json else sys.stdout)
    return result.exit_code


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "graph": cmd_graph, "steps": cmd_steps,
            "schema": cmd_schema}
