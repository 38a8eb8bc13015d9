"""The references in ``docs/``, made from the schemas so that they cannot drift from them.

``docs/workflow-format.md`` is made from the workflow schema
(:func:`runner.compile.schema.base_schema`): every key, whether it is required,
its type, allowed values, default and description. ``docs/steps.md`` is made
from the built-in steps' own schemas, as ``flow steps NAME`` shows them. Only
the framing prose is written here; ``flow docs`` writes the files and
``flow docs --check`` says whether the committed ones are current.
"""

from __future__ import annotations

from typing import Any

from runner.commands.schematext import allowed_text, default_text, type_text
from runner.commands.stepinfo import StepInfo, step_info

PADDING = "; `{index:04d}` zero-pads"
_BANNER = ("<!-- Made by `flow docs docs` from {what}: edit that, not this file, and run it "
           "again. `flow docs --check docs` (run by the tests) fails while this file is out "
           "of date. -->")


def workflow_format() -> str:
    """``docs/workflow-format.md``."""
    from runner.compile.schema import SOURCE_KINDS, base_schema
    from runner.files.fields import FIELDS

    top = base_schema()
    props = top["properties"]
    source = props["inputs"]["additionalProperties"]
    step = props["steps"]["items"]
    rng = source["properties"]["range"]["anyOf"][0]
    out = [
        "# The workflow file", "",
        _BANNER.format(what="the workflow schema (runner/compile/schema.py)"), "",
        "A workflow is one YAML file holding one mapping. Unknown keys are errors anywhere; "
        "`flow validate` reports every mistake at once, each with its file, line and column. "
        "`flow init` writes a commented starter; `flow schema` gives this format to an "
        "editor (see the README).", "",
        "## Top level", "", *_table(top), "",
        "## inputs", "",
        "Each input has a name (what `from:` uses) and exactly one source: "
        + ", ".join(f"`{k}`" for k in SOURCE_KINDS) + ".", "",
        *_table(source), "",
        "`range` as a mapping:", "", *_table(rng), "",
        f"`csv` {source['properties']['csv']['errorMessage']}:", "",
        *_table(source["properties"]["csv"]), "",
        "## steps", "",
        "A list of steps, run in order of the graph that `from:` makes. Each step:", "",
        *_table(step), "",
        "`parallel`:", "", *_table(step["properties"]["parallel"]), "",
        "## defaults", "",
        "Any of " + ", ".join(f"`{k}`" for k in props["defaults"]["properties"])
        + ", as for a step: they apply to every step that does not set them.", "",
        "## executor", "", *_table(props["executor"]), "",
        "## Params: `${name}`", "",
        "`${name}` anywhere in a string is replaced by the param's value; a value that is only "
        "`${name}` keeps the param's type (a number stays a number). A param's default may use "
        "the params above it. `-p name=value` on the command line overrides a default; the value "
        "is read as YAML (`-p size=64` is a number). `$${` writes a literal `${`. Inside a "
        "`{ }` or `[ ]` on one line, quote it: `{width: \"${size}\"}`.", "",
        "## Per-item fields in output paths", "",
        "An output path (`to:` of `image.save`, for example) is a template filled for each "
        "item:", "",
        "| field | is |", "|---|---|",
        *(f"| `{{{n}}}` | {f.means}{PADDING if n == 'index' else ''} |"
          for n, f in FIELDS.items()), "",
        "No other format spec, attribute or index is allowed. Two items (or two steps) that "
        "would write the same path is an error before anything is written. A reduce step "
        "writes one file: its path has no per-item field.", "",
    ]
    return "\n".join(out)


def steps_reference(registry: dict[str, Any]) -> str:
    """``docs/steps.md``: every step in ``registry``, as ``flow steps NAME`` shows it."""
    infos = [step_info(registry[n]) for n in sorted(registry)]
    out = [
        "# Built-in steps", "",
        _BANNER.format(what="the steps' schemas and docstrings (steps/*.py)"), "",
        "`flow steps` lists the steps installed with flow and with step packages; "
        "`flow steps NAME` shows one, as below. Writing and sharing your own: "
        "[sharing.md](sharing.md).", "",
        "| step | kind | what it does |", "|---|---|---|",
        *(f"| [`{i.name}`](#{i.name.replace('.', '')}) | {i.flow.split(' ', 1)[0]} | "
          f"{_cell(i.description)} |" for i in infos), "",
    ]
    for info in infos:
        out += _step_section(info)
    return "\n".join(out)


def _step_section(info: StepInfo) -> list[str]:
    out = [f"## {info.name}", "", info.description, "", f"*{info.flow}*", ""]
    if info.args:
        out += ["| argument | type | default | allowed | meaning |", "|---|---|---|---|---|"]
        for a in info.args:
            default = "required" if a.required else f"`{a.default}`" if a.default else ""
            out.append(f"| `{a.name}` | {_cell(a.type)} | {default} | {_cell(a.allowed)} | "
                       f"{_cell(a.description)} |")
        out.append("")
        out += [f"- {rule}" for rule in info.rules]
        out += [""] if info.rules else []
    else:
        out += ["No arguments.", ""]
    return [*out, "```yaml", info.example.rstrip("\n"), "```", ""]


def _table(schema: dict[str, Any]) -> list[str]:
    """A mapping's keys as a markdown table."""
    required = set(schema.get("required") or ())
    rows = ["| key | required | type | allowed | default | meaning |",
            "|---|---|---|---|---|---|"]
    for key, spec in schema.get("properties", {}).items():
        default = default_text(spec)
        rows.append(f"| `{key}` | {'yes' if key in required else ''} | "
                    f"{_cell(type_text(spec))} | {_cell(allowed_text(spec))} | "
                    f"{f'`{default}`' if default is not None else ''} | "
                    f"{_cell(spec.get('description', ''))} |")
    return rows


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def builtin_registry() -> dict[str, Any]:
    """The steps flow ships (no installed plugins: the docs must not depend on them)."""
    import importlib

    from steps.registry import BUILTIN_MODULES, collect

    found: dict[str, Any] = {}
    for name in BUILTIN_MODULES:
        found.update(collect(importlib.import_module(name)))
    return found


def generate() -> dict[str, str]:
    """File name in ``docs/`` -> its text."""
    return {"workflow-format.md": workflow_format(),
            "steps.md": steps_reference(builtin_registry())}
