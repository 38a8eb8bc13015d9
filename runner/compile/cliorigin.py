"""Problems caused by a ``-p name=value`` say so: the file alone would not explain them.

A bad value given on the command line is reported where the file uses it
(``width: ${size}``), which is right, but the file's own text there is fine: the
user must also read that ``size=abc`` came from ``-p``. :func:`cli_places` finds
every place that uses a ``-p`` param (directly, or through a param whose default
uses one); :func:`credit` adds ``(size=abc given with -p)`` to the problems there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

from runner.compile.tree import Map, Node, Scalar, Seq
from runner.errors import Pos, Problem

_REF = re.compile(r"(?<!\$)\$\{\s*([^{}]*?)\s*\}")  # ${name}, not the literal $${name}


def cli_places(root: Map, cli: Mapping[str, str]) -> dict[Pos, tuple[str, ...]]:
    """Where the file (as written, before substitution) uses a ``-p`` param, and which."""
    if not cli:
        return {}
    deps: dict[str, frozenset[str]] = {n: frozenset([n]) for n in cli}
    params = root.get("params")
    for key, node in params.items() if isinstance(params, Map) else ():
        if key.value not in cli:
            deps[key.value] = frozenset().union(*(deps.get(r, frozenset())
                                                  for r in _refs(node)))
    places: dict[Pos, tuple[str, ...]] = {}
    for key, node in root.items():
        if key.value != "params":
            for scalar in _scalars(node):
                names = frozenset().union(*(deps.get(r, frozenset())
                                            for r in _refs(scalar)))
                if names:
                    places[scalar.pos] = tuple(n for n in cli if n in names)
    return places


def credit(problems: list[Problem], places: Mapping[Pos, tuple[str, ...]],
           cli: Mapping[str, str]) -> list[Problem]:
    """``problems`` with ``(name=value given with -p)`` on those at a place that uses one."""
    out = []
    for p in problems:
        names = places.get(p.pos)
        if not names or p.message.startswith(("unknown param", "param '")):
            out.append(p)
            continue
        given = ", ".join(f"{n}={cli[n]}" for n in names)
        hint = p.hint
        if hint.startswith("the value comes from param"):
            # Quoting the file's default would not help: -p wins, and reads its value as YAML.
            hint = ("-p reads the value as YAML: for the text, quote it: "
                    f"-p '{names[0]}=\"{cli[names[0]]}\"'")
        out.append(replace(p, message=f"{p.message} ({given} given with -p)", hint=hint))
    return out


def _refs(node: Node) -> set[str]:
    return {name for s in _scalars(node) for name in _REF.findall(s.value)}


def _scalars(node: Node) -> list[Scalar]:
    """Every string scalar in ``node`` that holds a ``${``."""
    if isinstance(node, Scalar):
        return [node] if isinstance(node.value, str) and "${" in node.value else []
    if isinstance(node, Seq):
        return [s for n in node.items for s in _scalars(n)]
    return [s for v in node.values for s in _scalars(v)]
