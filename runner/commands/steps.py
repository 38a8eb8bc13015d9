"""``flow steps [NAME]...``: the available steps, or each named one in full.

In full: what the step takes and gives, every argument with its type, default
(as YAML writes it) and allowed values, the rules on the arguments as a whole,
and an example ``steps:`` block that validates as written.
"""

from __future__ import annotations

import argparse
import shutil
import textwrap

from runner.errors import EXIT_OK, FlowError


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Declare ``flow steps``."""
    s = sub.add_parser("steps", help="list the available steps, or show some in full")
    s.add_argument("names", nargs="*", metavar="NAME", help="a step to show in full")
    return s


def run(args: argparse.Namespace) -> int:
    """The listing, or each named step in full; exit 2 for an unknown name."""
    from runner.commands.schematext import plain_text
    from runner.commands.stepinfo import step_info
    from runner.errors import did_you_mean
    from steps.registry import load_registry

    reg = load_registry()
    if not args.names:
        width = max(len(n) for n in reg)
        for name in sorted(reg):
            print(f"{name:<{width}}  {reg[name].kind:<6}  {plain_text(reg[name].description)}")
        print("\nflow steps NAME shows one step's arguments and an example")
        return EXIT_OK
    for name in args.names:
        if reg.get(name) is None:
            raise FlowError.single(f"unknown step '{name}'{did_you_mean(name, reg)}",
                                   file="command line", hint="flow steps lists the available "
                                   "steps")
    print("\n\n".join(render(step_info(reg[name])) for name in args.names), end="")
    return EXIT_OK


def render(info) -> str:  # noqa: ANN001 (a StepInfo; imported lazily)
    """One step in full, as plain text."""
    out = [f"{info.name}  {info.description}".rstrip(), info.flow, ""]
    if not info.args:
        out.append("arguments: none")
    else:
        out.append("arguments (under with:)")
        width = max(len(a.name) for a in info.args)
        for a in info.args:
            line = a.type + (", required" if a.required else "")
            if a.default is not None:
                line += f", default: {a.default}"
            if a.allowed:
                line += f"; allowed: {a.allowed}"
            out.append(f"  {a.name:<{width}}  {line}")
            if a.description:
                indent = " " * (width + 4)
                out.append(textwrap.fill(a.description, _columns(), initial_indent=indent,
                                         subsequent_indent=indent, break_on_hyphens=False))
        out += [f"  {rule}" for rule in info.rules]
    out += ["", "example"]
    out += ["  " + line for line in info.example.splitlines()]
    return "\n".join(out) + "\n"


def _columns() -> int:
    """Where descriptions wrap: the terminal's width, but no wider than reads well."""
    return max(60, min(shutil.get_terminal_size().columns, 88))
