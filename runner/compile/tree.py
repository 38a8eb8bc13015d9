"""The positioned tree a workflow file is read into: every node knows where it was written.

:mod:`runner.compile.load` builds it from YAML; validation (:mod:`runner.compile.validate`) and
param substitution (:mod:`runner.compile.params`) read it, so a problem found
anywhere points at the file, line and column the user wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runner.errors import Pos


@dataclass(frozen=True, eq=False, slots=True)
class Scalar:
    """A scalar: its typed value, where it is, and how it was written.

    ``plain`` is true for an unquoted scalar, whose type YAML guessed from its
    text (so ``no`` became ``False``); ``text`` is that text. ``via`` names the
    param a substituted value came from (set by :mod:`runner.params`).
    """

    value: Any
    pos: Pos
    text: str = ""
    plain: bool = False
    via: str = ""
    size: int = 1


@dataclass(frozen=True, eq=False, slots=True)
class Seq:
    """A list of nodes."""

    items: tuple[Node, ...]
    pos: Pos
    size: int = 1


@dataclass(frozen=True, eq=False, slots=True)
class Map:
    """A mapping with string keys, in file order; ``keys`` are the key nodes."""

    keys: tuple[Scalar, ...]
    values: tuple[Node, ...]
    pos: Pos
    size: int = 1
    index: dict[str, int] = field(default_factory=dict, repr=False)

    def get(self, key: str) -> Node | None:
        """The value node under ``key``, or None."""
        i = self.index.get(key)
        return None if i is None else self.values[i]

    def key_node(self, key: str) -> Scalar | None:
        """The node of ``key`` itself (where an unknown key is reported)."""
        i = self.index.get(key)
        return None if i is None else self.keys[i]

    def items(self) -> list[tuple[Scalar, Node]]:
        return list(zip(self.keys, self.values, strict=True))

    def names(self) -> list[str]:
        return [k.value for k in self.keys]


Node = Scalar | Seq | Map


def make_map(keys: list[Scalar], values: list[Node], pos: Pos) -> Map:
    """A Map with its key index and size filled in (keys assumed unique)."""
    size = 1 + sum(k.size + v.size for k, v in zip(keys, values, strict=True))
    return Map(tuple(keys), tuple(values), pos, size, {k.value: i for i, k in enumerate(keys)})


def make_seq(items: list[Node], pos: Pos) -> Seq:
    """A Seq with its size filled in."""
    return Seq(tuple(items), pos, 1 + sum(n.size for n in items))


def to_plain(node: Node | None) -> Any:
    """The node as plain Python data (dict / list / scalar), for JSON Schema."""
    if node is None:
        return None
    if isinstance(node, Scalar):
        return node.value
    if isinstance(node, Seq):
        return [to_plain(n) for n in node.items]
    return {k.value: to_plain(v) for k, v in zip(node.keys, node.values, strict=True)}


def from_plain(value: Any, pos: Pos, via: str = "") -> Node:
    """A tree for plain data, every node at ``pos`` (for values that come from params)."""
    if isinstance(value, (list, tuple)):
        return make_seq([from_plain(v, pos, via) for v in value], pos)
    if isinstance(value, dict):
        keys = [Scalar(str(k), pos) for k in value]
        return make_map(keys, [from_plain(v, pos, via) for v in value.values()], pos)
    return Scalar(value, pos, via=via)
