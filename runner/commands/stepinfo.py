"""What a user needs to know of one step: its arguments in words, and an example that validates.

:func:`step_info` reads a :class:`steps.registry.StepDef`; ``flow steps NAME``
prints it and the step reference in ``docs/steps.md`` is made from it. The
example fills in what the step's schema needs (its required arguments, one of
each "width or height" choice) with values the schema accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from runner.commands.schematext import (
    allowed_text,
    branches,
    default_text,
    plain_text,
    rules_text,
    type_text,
    yaml_value,
)

_ONE = {"image": "an image", "number": "a number", "path": "a file path", "any": "any value"}
_MANY = {"image": "images", "number": "numbers", "path": "file paths", "any": "any values"}


@dataclass(frozen=True)
class ArgInfo:
    """One argument, in words."""

    name: str
    type: str
    required: bool
    default: str | None
    allowed: str
    description: str


@dataclass(frozen=True)
class StepInfo:
    """One step, in words."""

    name: str
    description: str
    flow: str  # "map step: an image in, an image out"
    args: tuple[ArgInfo, ...]
    rules: tuple[str, ...]
    example: str  # a `steps:` block, as YAML


def step_info(sd: Any) -> StepInfo:
    """The words for the step ``sd`` (a StepDef)."""
    schema = sd.schema if isinstance(sd.schema, dict) else {}
    props = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    args = tuple(ArgInfo(name, type_text(spec), name in required, default_text(spec),
                         allowed_text(spec), plain_text(spec.get("description", "")))
                 for name, spec in props.items() if isinstance(spec, dict))
    if sd.kind == "reduce":
        flow = f"reduce step: all items ({_MANY[sd.takes]}) in, {_ONE[sd.gives]} out"
    else:
        flow = f"map step: {_ONE[sd.takes]} in, {_ONE[sd.gives]} out"
    return StepInfo(sd.name, plain_text(sd.description), flow, args,
                    tuple(rules_text(schema)), example(sd))


def example(sd: Any) -> str:
    """A ``steps:`` block using ``sd`` with the arguments it cannot do without.

    It takes from ``photos`` (image steps) or ``numbers`` (the rest): the inputs a
    reader is assumed to have.
    """
    schema = sd.schema if isinstance(sd.schema, dict) else {}
    props = schema.get("properties") or {}
    needed = [n for n in schema.get("required") or () if n in props]
    choices = [b.get("required") for b in schema.get("anyOf", ()) if isinstance(b, dict)]
    if choices and not any(set(c or ()) <= set(needed) for c in choices):
        needed += [n for n in choices[0] or () if n not in needed]
    if not needed and schema.get("minProperties") and props:
        needed = [next(iter(props))]
    images = sd.takes in ("image", "path") or sd.name.startswith("image.")
    step_id = re.sub(r"[^a-z0-9_-]", "-", sd.name.rsplit(".", 1)[-1].lower()).lstrip("-_0123456789")
    lines = ["steps:", f"  - id: {step_id or 'step'}",
             f"    from: {'photos' if images else 'numbers'}", f"    uses: {sd.name}"]
    # A step's own first example (a whole `with:`) says more than values made up here.
    shown = schema.get("examples") or []
    args = shown[0] if shown and isinstance(shown[0], dict) else \
        {n: _value(n, props[n], sd) for n in needed}
    if args:
        lines.append("    with:")
        lines += [f"      {n}: {yaml_value(v)}" for n, v in args.items()]
    return "\n".join(lines) + "\n"


def _value(name: str, spec: dict[str, Any], sd: Any) -> Any:
    """A value the argument's schema accepts, that reads as a plausible example."""
    if spec.get("examples"):
        return spec["examples"][0]
    spec = branches(spec)[0] if len(branches(spec)) > 1 else spec
    if "const" in spec:
        return spec["const"]
    text = f"{name}: {spec.get('description', '')}".lower()
    if "enum" in spec:
        # The choice the description names first is the one it leads with.
        named = [(m.start(), i) for i, v in enumerate(spec["enum"])
                 if (m := re.search(rf"(?<![\w;]){re.escape(str(v).lower())}(?![\w;])", text))]
        return spec["enum"][min(named)[1] if named else 0]
    kind = spec.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind in ("integer", "number"):
        return _number(text, spec)
    if kind == "boolean":
        return not spec.get("default", False)
    if kind == "array":
        items = spec.get("items") if isinstance(spec.get("items"), dict) else {}
        return [_value(name, items, sd)] * max(1, spec.get("minItems", 1))
    if kind == "object":
        return {}
    if name in sd.outputs:
        return _output(spec, sd)
    return "text"


def _number(text: str, spec: dict[str, Any]) -> int:
    if re.search(r"pixel|width|height|size|box|tile", text):
        value = 256
    elif re.search(r"degree|angle", text):
        value = 90
    elif "second" in text:
        value = 1
    else:
        value = 2
    if "minimum" in spec:
        value = max(value, spec["minimum"])
    if "maximum" in spec:
        value = min(value, spec["maximum"])
    if "exclusiveMinimum" in spec and value <= spec["exclusiveMinimum"]:
        value = int(spec["exclusiveMinimum"]) + 1
    if isinstance(spec.get("not"), dict) and spec["not"].get("const") == value:
        value += 1
    return value


def _output(spec: dict[str, Any], sd: Any) -> str:
    """An output path template: per item for a map step, one file for a reduce."""
    suffixes = re.findall(r"\\\.\(?([a-z0-9|]+)", spec.get("pattern", ""))
    images = sd.gives == "image" or sd.name.startswith("image.")
    ext = suffixes[0].split("|")[0] if suffixes else "jpg" if images else "json"
    if sd.kind == "map":
        return f"out/{{stem}}.{ext}"
    return f"out/{sd.name.rsplit('.', 1)[-1] if images else 'summary'}.{ext}"
