"""``flow docs [DIR] [--check]``: write the generated references, or check they are current.

Not listed in ``flow --help``: it is for people working on flow (and for the
test that keeps ``docs/`` true), not for writing workflows.
"""

from __future__ import annotations

import argparse
import os

from runner.errors import EXIT_FAILED_ITEMS, EXIT_OK, FlowError


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Declare ``flow docs`` (no help text: it stays out of the command list)."""
    d = sub.add_parser("docs", description="write docs/workflow-format.md and docs/steps.md "
                       "from the schemas")
    d.add_argument("folder", nargs="?", default="docs", metavar="DIR")
    d.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if a file differs from what it would be")
    return d


def run(args: argparse.Namespace) -> int:
    """Write (or with --check compare) each generated file in DIR."""
    from runner.commands.docgen import generate

    if not os.path.isdir(args.folder):
        raise FlowError.single("no such folder", file=args.folder)
    stale = []
    for name, text in generate().items():
        path = os.path.join(args.folder, name)
        try:
            with open(path, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current == text:
            continue
        if args.check:
            stale.append(path)
            continue
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {path}")
    for path in stale:
        print(f"{path} is out of date: run flow docs {args.folder}")
    return EXIT_FAILED_ITEMS if stale else EXIT_OK
