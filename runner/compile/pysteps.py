"""A ``py:`` step read from its module's source with ``ast``: checked, never run.

``flow validate``, ``flow graph`` and ``flow run --dry-run`` must not run the code a
workflow points at, so what the compiler needs of a ``py:`` function is read from
its source: a plain ``fn(value, **with)`` is a map step whose other parameters are
its arguments, their annotations their types, and whose first parameter's and
return's annotations say what it takes and gives (see :mod:`runner.compile.pyhints`);
a ``@step(...)`` decorator gives the kind, schema, takes, gives and outputs, which
must be literals (or module-level constants holding literals). Where something
cannot be read without running the module, the error says what and where. The
function is imported only by the workers of a real run, through the ref built here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_args

from runner.compile.pyfind import Found, PyStepError, locate
from runner.compile.pyhints import Notes
from runner.errors import did_you_mean
from steps.registry import StepDef, ValueType, closed_schema, resolve_ref

NAME = re.compile(r"[A-Za-z_][\w.]*")
MAX_HOPS = 8  # re-exports followed from one module to another, at most
STEP_MODULES = ("steps", "steps.registry")
# The @step keywords the compiler needs, in the decorator's positional order first.
STEP_ARGS = ("name", "kind", "schema")
NEEDED = ("kind", "schema", "takes", "gives", "outputs")


def read_step(uses: str, folder: str) -> StepDef:
    """The StepDef of ``uses`` (``py:module:function``) for a workflow in ``folder``.

    Raises :class:`PyStepError` with a message for the user when the module may not
    be used, cannot be found or read, or does not define a readable function.
    """
    mod_name, _, qual = uses[3:].partition(":")
    if not NAME.fullmatch(mod_name) or not NAME.fullmatch(qual):
        raise PyStepError(f"'{uses}' is not of the form py:module.path:function")
    found = locate(mod_name, folder)
    module, fn, deco = _Module.read(found).function(qual, folder, 0)
    ref = found.ref(qual)
    what = f"{mod_name}:{qual}"
    if deco is None:
        notes = Notes(module.tree)
        first = [*fn.args.posonlyargs, *fn.args.args][:1]
        return StepDef(name=uses, fn=_deferred(ref), kind="map",
                       schema=_signature_schema(fn, what, notes), description=_doc(fn),
                       takes=notes.value_kind(first[0].annotation) if first else "any",
                       gives=notes.value_kind(fn.returns), origin=ref)
    meta = module.step_args(deco, what)
    kind, takes, gives = meta.get("kind", "map"), meta.get("takes", "any"), meta.get("gives", "any")
    outputs = meta.get("outputs", ())
    if kind not in ("map", "reduce"):
        raise PyStepError(f"@step of '{what}': kind must be 'map' or 'reduce', not {kind!r}")
    for key, value in (("takes", takes), ("gives", gives)):
        if value not in get_args(ValueType):
            raise PyStepError(f"@step of '{what}': {key} must be one of "
                              f"{', '.join(get_args(ValueType))}, not {value!r}")
    if not isinstance(meta.get("schema", {}), dict) or isinstance(outputs, str) or not all(
            isinstance(o, str) for o in outputs):
        raise PyStepError(f"@step of '{what}': schema must be a mapping and outputs a list "
                          "of argument names")
    name = meta.get("name")
    return StepDef(name=name if isinstance(name, str) else uses, fn=_deferred(ref), kind=kind,
                   schema=closed_schema(meta.get("schema")),
                   description=str(meta.get("description") or _doc(fn)), takes=takes,
                   gives=gives, outputs=tuple(outputs), origin=ref)


def _deferred(ref: str) -> Callable[..., Any]:
    """A stand-in for the function: it imports the real one only when called."""
    def call(*args: Any, **kwargs: Any) -> Any:
        return resolve_ref(ref)(*args, **kwargs)
    return call


def _doc(fn: ast.FunctionDef) -> str:
    lines = (ast.get_docstring(fn) or "").strip().splitlines()
    return lines[0] if lines else ""


def _signature_schema(fn: ast.FunctionDef, what: str, notes: Notes) -> dict[str, Any]:
    """The ``with`` schema of a plain function: its parameters after the first, each
    typed by its annotation."""
    a = fn.args
    positional = [*a.posonlyargs, *a.args]
    if not positional and a.vararg is None:
        raise PyStepError(f"'{what}' takes no value: a step function's first parameter is "
                          "the item's value (for a reduce, the items)")
    first_default = len(positional) - len(a.defaults)
    props: dict[str, Any] = {}
    required: list[str] = []
    for i, arg in enumerate(positional):
        if i == 0 or i < len(a.posonlyargs):
            continue  # the value, or a parameter that cannot be given by name
        props[arg.arg] = notes.schema(arg.annotation)
        if i < first_default:
            required.append(arg.arg)
    for arg, default in zip(a.kwonlyargs, a.kw_defaults, strict=True):
        props[arg.arg] = notes.schema(arg.annotation)
        if default is None:
            required.append(arg.arg)
    schema: dict[str, Any] = {"type": "object", "properties": props,
                              "additionalProperties": a.kwarg is not None}
    if required:
        schema["required"] = required
    return schema


@dataclass
class _Module:
    """One parsed module: its top-level bindings, and what names flow's ``step``."""

    found: Found
    tree: ast.Module
    step_names: set[str] = field(default_factory=set)  # names bound to steps.step
    step_mods: set[str] = field(default_factory=set)  # names bound to steps / steps.registry
    star: bool = False  # has a ``from x import *``: names may come from elsewhere

    @classmethod
    def read(cls, found: Found) -> _Module:
        try:
            with open(found.source, "rb") as fh:
                tree = ast.parse(fh.read(), filename=found.source)
        except SyntaxError as e:
            raise PyStepError(f"'{found.module}' cannot be read: SyntaxError: {e.msg} "
                              f"({found.source}:{e.lineno}:{e.offset})") from None
        except (OSError, ValueError) as e:
            raise PyStepError(f"'{found.module}' cannot be read: {e}") from None
        mod = cls(found, tree)
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module in STEP_MODULES:
                for alias in node.names:
                    if alias.name == "*":
                        mod.step_names.add("step")
                    elif alias.name == "step":
                        mod.step_names.add(alias.asname or "step")
                    elif alias.name == "registry":
                        mod.step_mods.add(alias.asname or "registry")
            elif isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
                mod.star = True
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in STEP_MODULES:
                        mod.step_mods.add(alias.asname or alias.name)
        return mod

    def where(self, node: ast.AST) -> str:
        return f"{self.found.source}:{getattr(node, 'lineno', 0)}"

    def function(self, qual: str, folder: str,
                 hops: int) -> tuple[_Module, ast.FunctionDef, ast.Call | None]:
        """The ``def`` that ``qual`` names (following simple re-exports), and its @step call."""
        if hops > MAX_HOPS:
            raise PyStepError(f"'{qual}' is re-exported more than {MAX_HOPS} times")
        *outer, last = qual.split(".")
        body: list[ast.stmt] = self.tree.body
        for part in outer:
            cls = self._binding(body, part)
            if not isinstance(cls, ast.ClassDef):
                raise self._missing(qual)
            body = cls.body
        node = self._binding(body, last)
        if isinstance(node, ast.FunctionDef):
            deco = next((d for d in node.decorator_list
                         if isinstance(d, ast.Call) and self._is_step(d.func)), None)
            return self, node, deco
        if isinstance(node, ast.ImportFrom) and not outer:
            name = next(a.name for a in node.names if (a.asname or a.name) == last)
            return _Module.read(self._imported(node, folder)).function(name, folder, hops + 1)
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None and not outer:
            value = node.value
            if isinstance(value, ast.Name):  # brighten = _brighten
                return self.function(value.id, folder, hops + 1)
            if (isinstance(value, ast.Call) and isinstance(value.func, ast.Call)
                    and self._is_step(value.func.func) and len(value.args) == 1
                    and isinstance(value.args[0], ast.Name)):  # total = step(...)(_total)
                mod, fn, _ = self.function(value.args[0].id, folder, hops + 1)
                return mod, fn, value.func
            raise PyStepError(f"'{self.found.module}:{qual}' is made by an expression "
                              f"({self.where(node)}): flow reads py: steps without running "
                              "their module, so it cannot tell what that is",
                              "define it with def (and @step for a reduce or a schema)")
        if node is None:
            raise self._missing(qual)
        raise PyStepError(f"'{self.found.module}:{qual}' is not a function "
                          f"({self.where(node)})")

    def _missing(self, qual: str) -> PyStepError:
        names = [n.name for n in self.tree.body
                 if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]
        hint = ("it has a 'from ... import *', which flow does not follow: import the "
                "function by name" if self.star else "")
        return PyStepError(f"'{self.found.module}' has no function '{qual}'"
                           f"{did_you_mean(qual.split('.')[-1], names)}", hint)

    @staticmethod
    def _binding(body: list[ast.stmt], name: str) -> ast.stmt | None:
        """The last top-level statement of ``body`` that binds ``name`` (as Python would)."""
        hit = None
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                bound = [node.name]
            elif isinstance(node, ast.Assign):
                bound = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                bound = [node.target.id]
            elif isinstance(node, ast.ImportFrom | ast.Import):
                bound = [a.asname or a.name.split(".")[0] for a in node.names]
            else:
                continue
            if name in bound:
                hit = node
        return hit

    def _imported(self, node: ast.ImportFrom, folder: str) -> Found:
        """The module a ``from X import name`` reads from, by the same rules as ``py:``."""
        target = node.module or ""
        if node.level:
            package = self.found.module if self.found.is_package else \
                self.found.module.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            target = ".".join(p for p in (package, target) if p)
        if not target:
            raise PyStepError(f"'{self.found.module}' imports from outside its package "
                              f"({self.where(node)})")
        return locate(target, self.found.folder or folder)

    def _is_step(self, func: ast.expr) -> bool:
        """True when ``func`` is flow's ``step`` as this module imported it."""
        if isinstance(func, ast.Name):
            return func.id in self.step_names
        if isinstance(func, ast.Attribute) and func.attr == "step":
            return _dotted(func.value) in self.step_mods
        return False

    def step_args(self, call: ast.Call, what: str) -> dict[str, Any]:
        """The @step call's arguments the compiler needs, read as literals."""
        given: dict[str, ast.expr] = dict(zip(STEP_ARGS, call.args, strict=False))
        given.update((k.arg, k.value) for k in call.keywords if k.arg)
        out: dict[str, Any] = {}
        for key, node in given.items():
            try:
                out[key] = self._literal(node, 0)
            except (ValueError, TypeError, SyntaxError, RecursionError):
                if key in NEEDED:
                    raise PyStepError(
                        f"@step of '{what}': its {key} is not a literal "
                        f"({self.where(node)}), and flow reads py: steps without running "
                        "their module", "write it as a literal, or as a module-level "
                        "constant holding one") from None
        return out

    def _literal(self, node: ast.expr, depth: int) -> Any:
        """A literal value; a name is looked up among the module's top-level constants."""
        if depth > 20:
            raise ValueError("too deep")
        if isinstance(node, ast.Name):
            bound = self._binding(self.tree.body, node.id)
            value = bound.value if isinstance(bound, ast.Assign | ast.AnnAssign) else None
            if value is None:
                raise ValueError(node.id)
            return self._literal(value, depth + 1)
        if isinstance(node, ast.Dict):
            out: dict[Any, Any] = {}
            for k, v in zip(node.keys, node.values, strict=True):
                if k is None:  # {**BASE, ...}
                    out.update(self._literal(v, depth + 1))
                else:
                    out[self._literal(k, depth + 1)] = self._literal(v, depth + 1)
            return out
        if isinstance(node, ast.List | ast.Tuple):
            return [self._literal(v, depth + 1) for v in node.elts]
        return ast.literal_eval(node)


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""
