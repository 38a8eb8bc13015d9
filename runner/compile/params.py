"""The two kinds of placeholder in a workflow: ``${param}`` and output ``{field}``.

Params: ``${name}`` substitution in a positioned tree.
A string that is exactly ``${name}`` becomes the param's value with its type
(an int stays an int, a list stays a list); ``${name}`` inside a longer string
is replaced by the value's text. ``$${`` writes a literal ``${``. A param's
default may use the params declared above it. ``-p name=value`` values from the
command line are read as YAML scalars (``512`` is an int, ``[1, 2]`` a list,
anything else that is not a scalar or a list stays the text as given) and are
taken literally (no ``${}`` inside them).

Expansion is bounded for the whole load of a workflow (its included files too): a
param copied wherever it is used, by params that repeat params, could otherwise grow
ten-fold per level (a "${param} bomb"). Past :data:`MAX_TEXT` characters added to
strings or :data:`MAX_COPIED` list items copied (a list as the file wrote it may be
used once for free), a use is refused, left unexpanded, and the first refusal is
reported naming the param; nothing large is ever built.

Output templates (the arguments a step declares in ``StepDef.outputs``) use the
per-item fields of :mod:`runner.files.fields` (SPEC 1.4); :func:`check_output`
checks what can be judged before any item exists.
"""

from __future__ import annotations

import os
import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.compile.load import Map, Node, Scalar, Seq, from_plain, make_map, make_seq, parse
from runner.errors import Collector, Pos, did_you_mean
from runner.files import fields

PARAM_NAME = r"^[A-Za-z_][A-Za-z0-9_-]*$"
_REF = re.compile(r"\$(\$?)\{([^{}]*)\}")
_NAME = re.compile(PARAM_NAME)
MAX_TEXT = 1_000_000  # characters that ${...} may add to strings, in one load
MAX_COPIED = 100_000  # list items and mappings that ${...} may copy, in one load
_HINT = ("a param's value is copied wherever it is used: params that repeat params "
         "grow ten-fold per level")


@dataclass
class _Budget:
    """What ${...} may still add in one load (its Collector is shared by every file)."""

    text: int = MAX_TEXT
    copied: int = MAX_COPIED
    free: dict[int, Node] = field(default_factory=dict)  # lists as written: first use free
    refused: bool = False  # one problem says it; later refusals in params are silent


_budgets: weakref.WeakKeyDictionary[Collector, _Budget] = weakref.WeakKeyDictionary()


def _budget(problems: Collector) -> _Budget:
    b = _budgets.get(problems)
    if b is None:
        b = _budgets[problems] = _Budget()
    return b


def _too_big(problems: Collector, node: Scalar, path: str, refs: list[str], what: str) -> None:
    """Refuse a use of ``refs`` at ``node``, naming the param being defined or the refs.

    Within params only the first refusal is reported: the params after it use what
    was left unexpanded, and one message names where the growth went too far.
    """
    budget = _budget(problems)
    in_params = path.startswith("params.")
    if in_params and budget.refused:
        return
    budget.refused = True
    names = ", ".join(f"'${{{r}}}'" for r in dict.fromkeys(refs))
    param = re.split(r"[.\[]", path[7:])[0]
    who = f"param '{param}' expands" if in_params else f"using {names} here expands the workflow"
    problems.add(node.pos, path, f"{who} to more than {what}; refused", _HINT)


def parse_cli_value(text: str) -> Any:
    """A ``-p`` value read as YAML: a scalar or a list of scalars, else the text itself."""
    if text.strip() == "":
        return text
    try:
        node = parse(text, "-p")
    except Exception:  # not YAML at all: the user meant the text
        return text
    if isinstance(node, Scalar):
        return node.value
    if isinstance(node, Seq) and all(isinstance(n, Scalar) for n in node.items):
        return [n.value for n in node.items]  # type: ignore[union-attr]
    return text


def resolve_params(params: Node | None, file: str, cli: Mapping[str, str] | None,
                   given: Mapping[str, Node] | None, problems: Collector) -> dict[str, Node]:
    """Each param's final value as a node, in declaration order.

    ``cli``: raw ``-p`` strings (for the top-level file; an unknown name is a
    problem without a position). ``given``: value nodes from the ``with`` of a
    step that includes this file (the caller reports unknown names there).
    """
    values: dict[str, Node] = {}
    declared = params.names() if isinstance(params, Map) else []
    for name in cli or {}:
        if name not in declared:
            problems.add(Pos(file), "", f"unknown param '{name}' given with -p"
                         f"{did_you_mean(name, declared)}",
                         "this workflow declares no params" if not declared
                         else "its params: " + ", ".join(declared))
    if not isinstance(params, Map):
        return values
    for key, node in params.items():
        name = key.value
        if not _NAME.match(name):
            continue  # reported by the schema
        if cli and name in cli:
            value = parse_cli_value(cli[name])
            values[name] = (from_plain(value, key.pos, via=name) if isinstance(value, list)
                            else Scalar(value, key.pos, cli[name], True, name))
        elif given and name in given:
            values[name] = given[name]
        else:
            values[name] = substitute(node, values, f"params.{name}", problems, declared)
            if values[name] is node:
                _budget(problems).free[id(node)] = node
    return values


def substitute(node: Node, params: Mapping[str, Node], path: str, problems: Collector,
               declared: list[str] | None = None) -> Node:
    """``node`` with every ``${name}`` replaced; unknown names are problems at the string.

    ``declared`` (for params themselves): names that exist but are not yet
    usable (declared below), for a clearer message.
    """
    if isinstance(node, Scalar):
        if isinstance(node.value, str) and "${" in node.value:
            return _scalar(node, params, path, problems, declared or [])
        return node
    if isinstance(node, Seq):
        items = [substitute(n, params, f"{path}[{i}]", problems, declared)
                 for i, n in enumerate(node.items)]
        if all(a is b for a, b in zip(items, node.items, strict=True)):
            return node
        return make_seq(items, node.pos)
    values = [substitute(v, params, f"{path}.{k.value}" if path else k.value, problems, declared)
              for k, v in node.items()]
    if all(a is b for a, b in zip(values, node.values, strict=True)):
        return node
    return make_map(list(node.keys), values, node.pos)


def _scalar(node: Scalar, params: Mapping[str, Node], path: str, problems: Collector,
            declared: list[str]) -> Node:
    text: str = node.value
    whole = _REF.fullmatch(text)
    if whole and not whole.group(1):
        found = _lookup(whole.group(2), node, params, path, problems, declared)
        if found is None:
            return node
        if isinstance(found, Scalar):
            # Keep how the value was written, so a YAML 1.1 surprise can still be explained.
            via = found.via or whole.group(2).strip()
            return Scalar(found.value, node.pos, found.text, found.plain, via)
        budget = _budget(problems)
        if budget.free.pop(id(found), None) is not None:
            pass  # the first use of a list as the file wrote it: no repetition yet
        elif found.size > budget.copied:
            _too_big(problems, node, path, [whole.group(2).strip()],
                     f"{MAX_COPIED:,} list items copied from params")
            return node
        else:
            budget.copied -= found.size
        return _moved(found, node.pos, whole.group(2).strip())

    def repl(m: re.Match[str]) -> str:
        if m.group(1):  # $${...}: a literal ${...}
            return m.group(0)[1:]
        found = _lookup(m.group(2), node, params, path, problems, declared)
        if found is None:
            return m.group(0)
        if not isinstance(found, Scalar):
            problems.add(node.pos, path, f"param '{m.group(2).strip()}' is a list: use it as a "
                         "whole value, alone in its string")
            return m.group(0)
        return _text(found.value)

    pieces, at, refs = [], 0, []
    for m in _REF.finditer(text):
        pieces += (text[at:m.start()], repl(m))
        refs.append(m.group(2).strip())
        at = m.end()
    pieces.append(text[at:])
    rest = _REF.sub("", text)
    if "${" in rest.replace("$${", ""):
        problems.add(node.pos, path, "'${' without a closing '}'",
                     "write $${ for a literal ${")
    budget = _budget(problems)
    grown = sum(map(len, pieces)) - len(text)  # measured before anything large is built
    if grown > budget.text:
        _too_big(problems, node, path, refs, f"{MAX_TEXT:,} characters from params")
        return node
    budget.text -= max(0, grown)
    return Scalar("".join(pieces), node.pos, node.text, False, node.via)


def _lookup(raw: str, node: Scalar, params: Mapping[str, Node], path: str,
            problems: Collector, declared: list[str]) -> Node | None:
    name = raw.strip()
    if name in params:
        return params[name]
    if not _NAME.match(name):
        problems.add(node.pos, path, f"'${{{raw}}}' is not a param reference: a param name "
                     "is letters, digits, '_' and '-'", "write $${ for a literal ${")
    elif name in declared:
        problems.add(node.pos, path, f"param '{name}' is declared below; a param can only "
                     "use the params above it")
    else:
        problems.add(node.pos, path, f"unknown param '{name}'{did_you_mean(name, params)}")
    return None


def _moved(node: Node, pos: Pos, via: str) -> Node:
    """A copy of a param's list at the place it is used (errors point at the use)."""
    if isinstance(node, Seq):
        return make_seq([_moved(n, pos, via) for n in node.items], pos)
    if isinstance(node, Scalar):
        return Scalar(node.value, pos, node.text, node.plain, node.via or via)
    return make_map(list(node.keys), [_moved(v, pos, via) for v in node.values], pos)


def _text(value: Any) -> str:
    """A scalar as it reads inside a string (YAML's spelling for booleans and null)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def plain_values(params: Mapping[str, Node]) -> tuple[tuple[str, Any], ...]:
    """The params as ``(name, value)`` pairs, lists as tuples (for the frozen model)."""
    from runner.compile.load import to_plain

    def freeze(v: Any) -> Any:
        return tuple(freeze(x) for x in v) if isinstance(v, list) else v

    return tuple((k, freeze(to_plain(v))) for k, v in params.items())


def check_output(text: str, reduce: bool, allow_outside: bool) -> list[tuple[str, str]]:
    """Problems ``(message, hint)`` of an output template (params already substituted).

    Each ``{field}`` judged against the one table of per-item fields
    (:mod:`runner.files.fields`: unknown names, attribute or index access,
    conversions, format specs other than ``{index:04d}``); any per-item field in a
    reduce step's output (it writes one file); and a path that surely leaves the
    working directory (absolute, or ``../`` once normalised) unless ``allow_outside``.
    """
    try:
        parsed = fields.parse(text)
    except fields.TemplateError as e:
        return [(e.message, e.hint)]
    out = []
    for _, fld, spec, conv in parsed:
        if fld is None:
            continue
        if reduce:
            out.append(("a reduce step writes one file: per-item field "
                        f"{{{fld}}} has no meaning here", ""))
        elif (wrong := fields.problem(fld, spec, conv)) is not None:
            out.append(wrong)
    probe = "".join(lit + ("x" if fld is not None else "") for lit, fld, _, _ in parsed)
    norm = os.path.normpath(probe)
    if not allow_outside and (os.path.isabs(probe) or norm == ".."
                              or norm.startswith(".." + os.sep)):
        out.append((f"output path escapes the working directory: '{text}'",
                    "write below the working directory, or pass --allow-outside"))
    return out
