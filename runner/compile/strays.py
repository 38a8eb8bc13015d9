"""Arguments written at a step's own level instead of under its ``with:``: said, and moved.

Left unindented below an empty ``with:`` (or written with no ``with:`` at all), an
argument like ``width`` lands among the step's keys, where the schema would call
it an unknown key and suggest ``with``, which steers the user wrong. Here such a
key is recognised (it is one of the step's arguments; or, for a step whose
arguments are unknown until it is loaded, it sits below an empty ``with:`` at
the same column), reported as belonging under ``with:``, and moved there, so
its value is still checked against the step's schema.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from runner.compile.schema import base_schema
from runner.compile.tree import Map, Node, Scalar, Seq, make_map, make_seq
from runner.errors import Pos

_step_keys: frozenset[str] | None = None


def adopt_strays(root: Map, registry: Mapping[str, Any],
                 add: Callable[[Pos, str, str, str], None]) -> Map:
    """``root`` with every step's stray arguments moved under its ``with``; each reported."""
    steps = root.get("steps")
    if not isinstance(steps, Seq):
        return root
    items = [_adopt(n, f"steps[{i}]", registry, add) if isinstance(n, Map) else n
             for i, n in enumerate(steps.items)]
    if all(a is b for a, b in zip(items, steps.items, strict=True)):
        return root
    values = [make_seq(items, steps.pos) if k.value == "steps" else v for k, v in root.items()]
    return make_map(list(root.keys), values, root.pos)


def _keys() -> frozenset[str]:
    global _step_keys
    if _step_keys is None:
        _step_keys = frozenset(base_schema()["properties"]["steps"]["items"]["properties"])
    return _step_keys


def _adopt(node: Map, path: str, registry: Mapping[str, Any],
           add: Callable[[Pos, str, str, str], None]) -> Map:
    strays = [(k, v) for k, v in node.items() if k.value not in _keys()]
    if not strays:
        return node
    uses = node.get("uses")
    name = uses.value if isinstance(uses, Scalar) and isinstance(uses.value, str) else ""
    sd = None
    if name and not name.startswith(("py:", "pkg:")) and not name.endswith((".yaml", ".yml")):
        sd = registry.get(name)
    args = set(sd.schema.get("properties", {})) if sd is not None else None
    with_key, with_val = node.key_node("with"), node.get("with")
    empty = isinstance(with_val, Scalar) and with_val.value is None
    if with_val is not None and not empty and not isinstance(with_val, Map):
        return node  # `with: 64`: the schema says what is wrong; nothing to move into
    below = [k for k, _ in strays if with_key is not None and empty
             and k.pos.line > with_key.pos.line and k.pos.col == with_key.pos.col]
    moved = []
    for key, value in strays:
        if (key.value in args) if args is not None else (key in below):
            if not (isinstance(with_val, Map) and with_val.get(key.value) is not None):
                moved.append((key, value))
    if not moved:
        return node
    for key, _ in moved:
        what = (f"'{key.value}' is an argument of {name}" if args is not None
                else f"a step has no key '{key.value}'")
        add(key.pos, path, f"{what}: it belongs under 'with:'", _hint(key, with_key, empty,
                                                                     moved))
    taken = {id(k) for k, _ in moved}
    keys = [k for k in node.keys if id(k) not in taken]
    values = [v for k, v in node.items() if id(k) not in taken]
    old = with_val if isinstance(with_val, Map) else make_map([], [], node.pos)
    args_map = make_map([*old.keys, *(k for k, _ in moved)],
                        [*old.values, *(v for _, v in moved)],
                        with_val.pos if with_val is not None else moved[0][0].pos)
    if with_key is None:
        keys.append(Scalar("with", moved[0][0].pos))
        values.append(args_map)
    else:
        values[keys.index(with_key)] = args_map
    return make_map(keys, values, node.pos)


def _hint(key: Scalar, with_key: Scalar | None, empty: bool,
          moved: list[tuple[Scalar, Node]]) -> str:
    if with_key is None:
        shown = ", ".join(f"{k.value}: {_text(v)}" for k, v in moved)
        return f"write it as  with: {{{shown}}}"
    if empty and key.pos.line > with_key.pos.line:
        return f"indent it further than 'with:' on line {with_key.pos.line}"
    return f"put it under 'with:' on line {with_key.pos.line}"


def _text(node: Node) -> str:
    """A value as the user wrote it (scalars), or ``...``."""
    if not isinstance(node, Scalar):
        return "..."
    return node.text if node.plain else '"' + str(node.value).replace('"', '\\"') + '"'
