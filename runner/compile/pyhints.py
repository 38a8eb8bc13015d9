"""What a ``py:`` function's annotations say, read from its source with ``ast``.

A plain function's first parameter says what the step takes (``img: Image.Image``
gets an opened image, ``n: int`` a number, ``path: Path`` the path), its return
annotation what it gives, and each other parameter's annotation becomes that
argument's JSON Schema (``int``, ``float``, ``bool``, ``str``, ``list[...]``,
``Literal[...]`` as an enum, unions and ``Optional``). Names are resolved through
the module's own imports (``from PIL import Image as PILImage`` makes
``PILImage.Image`` Pillow's image), those under ``if TYPE_CHECKING:`` included, and a
string annotation is read as the expression it spells. Nothing is imported.
"""

from __future__ import annotations

import ast
from typing import Any

# Fully qualified names (as the module's imports spell them) of each kind of value.
# A bare "Image" or "Image.Image" with no import is a forward reference to Pillow's.
IMAGE = frozenset({"PIL.Image.Image", "PIL.Image", "PIL.ImageFile.ImageFile",
                   "Image", "Image.Image"})
NUMBER = frozenset({"int", "float", "numbers.Number", "numbers.Real", "numbers.Integral",
                    "numbers.Rational"})
PATH = frozenset({"str", "pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath",
                  "os.PathLike"})
TYPING = ("typing.", "typing_extensions.", "builtins.", "collections.abc.")
# Argument annotations as JSON Schema types (after TYPING prefixes are dropped).
SCALARS = {"int": "integer", "numbers.Integral": "integer", "float": "number",
           "numbers.Number": "number", "numbers.Real": "number", "bool": "boolean",
           "str": "string", "pathlib.Path": "string", "pathlib.PurePath": "string",
           "os.PathLike": "string", "dict": "object", "Dict": "object", "Mapping": "object"}
ARRAYS = frozenset({"list", "List", "tuple", "Tuple", "Sequence", "set", "Set", "frozenset",
                    "FrozenSet", "Iterable", "Collection"})
UNIONS = frozenset({"Union", "Optional"})
MAX_DEPTH = 20  # nesting of annotations read, at most (a string may hold anything)


def imports_of(tree: ast.Module) -> dict[str, str]:
    """Each name the module's imports bind, to the dotted name it stands for.

    Imports inside top-level ``if``/``try`` blocks count (``if TYPE_CHECKING:``).
    """
    out: dict[str, str] = {}
    todo: list[ast.stmt] = list(tree.body)
    while todo:
        node = todo.pop(0)
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    out[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    out[top] = top
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            for alias in node.names:
                if alias.name != "*":
                    out[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.If | ast.Try):
            todo += [*node.body, *getattr(node, "orelse", []),
                     *(s for h in getattr(node, "handlers", []) for s in h.body)]
    return out


class Notes:
    """Annotations of one module's functions, read through that module's imports."""

    def __init__(self, tree: ast.Module) -> None:
        self.names = imports_of(tree)

    def value_kind(self, note: ast.expr | None) -> str:
        """``image``, ``number``, ``path`` or ``any``: what an annotation says a value is.

        A union counts when all of its members (``None`` aside) are of one kind.
        """
        kinds = {_kind(name) for name in self._members(note, 0)} - {"none"}
        return kinds.pop() if len(kinds) == 1 else "any"

    def schema(self, note: ast.expr | None) -> dict[str, Any]:
        """The JSON Schema an argument's annotation gives; ``{}`` (anything) when unknown."""
        try:
            return self._schema(note, 0)
        except (ValueError, TypeError, SyntaxError, RecursionError):
            return {}

    def _name(self, node: ast.expr) -> str:
        """The dotted name an annotation's head stands for, through the imports."""
        if isinstance(node, ast.Name):
            return self.names.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            head = self._name(node.value)
            return f"{head}.{node.attr}" if head else ""
        if isinstance(node, ast.Constant) and node.value is None:
            return "None"
        return ""

    def _parsed(self, node: ast.expr | None, depth: int) -> ast.expr | None:
        """A string annotation as the expression it spells; anything else as it is."""
        if depth > MAX_DEPTH:
            raise RecursionError("annotation nested too deep")
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return ast.parse(node.value.strip(), mode="eval").body
        return node

    def _members(self, note: ast.expr | None, depth: int) -> list[str]:
        """The names a (union) annotation is made of, ``Annotated`` unwrapped."""
        try:
            node = self._parsed(note, depth)
        except (SyntaxError, ValueError, RecursionError):
            return []  # an odd string annotation: it says nothing flow can use
        if node is None:
            return []
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self._members(node.left, depth + 1) + self._members(node.right, depth + 1)
        if isinstance(node, ast.Subscript):
            head = _plain(self._name(node.value))
            args = _args(node)
            if head in UNIONS:
                return [n for a in args for n in self._members(a, depth + 1)] + (
                    ["None"] if head == "Optional" else [])
            if head == "Annotated" and args:
                return self._members(args[0], depth + 1)
            return [self._name(node.value)]
        return [self._name(node)]

    def _schema(self, note: ast.expr | None, depth: int) -> dict[str, Any]:
        node = self._parsed(note, depth)
        if node is None:
            return {}
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return _union([self._schema(node.left, depth + 1),
                           self._schema(node.right, depth + 1)])
        if isinstance(node, ast.Subscript):
            head, args = _plain(self._name(node.value)), _args(node)
            if head in UNIONS:
                parts = [self._schema(a, depth + 1) for a in args]
                return _union(parts + ([{"type": "null"}] if head == "Optional" else []))
            if head == "Annotated" and args:
                return self._schema(args[0], depth + 1)
            if head == "Literal":
                return {"enum": self._literals(args, depth + 1)}
            if head in ARRAYS:
                # list[int], tuple[int, ...]: items of one schema; tuple[int, str]: any
                kinds = [self._schema(a, depth + 1) for a in args
                         if not (isinstance(a, ast.Constant) and a.value is Ellipsis)]
                one = kinds[0] if kinds and all(k == kinds[0] for k in kinds) else {}
                return {"type": "array", "items": one} if one else {"type": "array"}
        name = _plain(self._name(node.value if isinstance(node, ast.Subscript) else node))
        if name == "None":
            return {"type": "null"}
        if name in ARRAYS:
            return {"type": "array"}
        return {"type": SCALARS[name]} if name in SCALARS else {}

    def _literals(self, args: list[ast.expr], depth: int) -> list[Any]:
        """The values of ``Literal[...]``, nested ``Literal``s flattened."""
        out: list[Any] = []
        for a in args:
            if isinstance(a, ast.Subscript) and _plain(self._name(a.value)) == "Literal":
                out += self._literals(_args(a), depth + 1)
                continue
            value = ast.literal_eval(a)
            if not isinstance(value, str | int | float | bool) and value is not None:
                raise TypeError(f"not a JSON value: {value!r}")
            out.append(value)
        return out


def _kind(name: str) -> str:
    if name == "None":
        return "none"
    if name in IMAGE:
        return "image"
    if name in NUMBER:
        return "number"
    return "path" if name in PATH else "any"


def _plain(name: str) -> str:
    """``typing.Literal`` -> ``Literal``: the typing modules' names by their own."""
    for prefix in TYPING:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _args(node: ast.Subscript) -> list[ast.expr]:
    inner = node.slice
    return list(inner.elts) if isinstance(inner, ast.Tuple) else [inner]


def _union(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One schema for a union: a list of types where it can be, else anyOf; {} if any is."""
    if any(p == {} for p in parts):
        return {}  # one member takes anything: so does the union
    if all(set(p) == {"type"} and isinstance(p["type"], str) for p in parts):
        types = list(dict.fromkeys(p["type"] for p in parts))
        if "number" in types and "integer" in types:
            types.remove("integer")  # a number already includes the integers
        return {"type": types[0] if len(types) == 1 else types}
    return {"anyOf": parts}
