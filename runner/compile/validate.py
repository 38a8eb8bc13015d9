"""Validation against the workflow JSON Schema, in the user's language.

The schema itself is built in :mod:`runner.compile.schema` (:func:`base_schema`,
:func:`workflow_schema`). Validation runs jsonschema (Draft
2020-12, imported lazily) on the structure, then on each step's ``with`` with
that step's schema, and turns each jsonschema error into one
:class:`~runner.errors.Problem` at the offending node: unknown keys with "did
you mean", wrong types with what was found, enums listed, and a "quote it"
hint where YAML 1.1 read ``no``/``off``/``1.5`` as a boolean or number while a
string was wanted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from runner.compile.fastcheck import verdict
from runner.compile.schema import ONE_SOURCE, SOURCE_KINDS, base_schema
from runner.compile.tree import Map, Node, Scalar, Seq, to_plain
from runner.errors import Collector, Pos, closest, did_you_mean

_TYPE_NAMES = {"integer": "an integer", "number": "a number", "string": "a string",
               "boolean": "true or false", "array": "a list", "object": "a mapping",
               "null": "nothing"}


# -- validation -----------------------------------------------------------------------------

_validators: dict[int, tuple[dict[str, Any], Any]] = {}


def _validator(schema: dict[str, Any]) -> Any:
    hit = _validators.get(id(schema))
    if hit is None or hit[0] is not schema:
        from jsonschema import Draft202012Validator

        hit = (schema, Draft202012Validator(schema))
        _validators[id(schema)] = hit  # the schema is kept alive, so its id stays its own
    return hit[1]


_BASE: dict[str, Any] | None = None


def check_workflow(root: Map, problems: Collector) -> None:
    """Check a whole (substituted) workflow tree against :func:`base_schema`."""
    global _BASE
    if _BASE is None:
        _BASE = base_schema()
    check(root, _BASE, "", problems)


def check(node: Node, schema: dict[str, Any], path: str, problems: Collector,
          what: str = "key") -> None:
    """Validate ``node`` against ``schema``; each error becomes one problem at its node.

    ``path`` is the node's place in the document (``steps[2].with``); ``what``
    names the node's keys in messages ("key", or "argument" for a step's ``with``).
    A node with a wrong type gets that one error, not also its enum or range;
    a key missing because it was misspelt is reported once, as the unknown key.
    """
    value = to_plain(node)
    if verdict(value, schema) is True:
        return  # valid: no need to import jsonschema
    from jsonschema.exceptions import SchemaError

    try:
        errors = list(_validator(schema).iter_errors(value))
    except SchemaError as e:  # a step's own schema is broken: say so, not a traceback
        problems.add(node.pos, path, f"the step's argument schema is invalid: {e.message}")
        return
    typed = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    misspelt: set[tuple[tuple[Any, ...], str]] = set()
    for e in errors:
        if e.validator == "additionalProperties" and isinstance(e.instance, dict):
            known = list(e.schema.get("properties", {}))
            for key in e.instance:
                near = closest(key, known) if key not in known else None
                if near is not None:
                    misspelt.add((tuple(e.absolute_path), near))
    seen: set[Found] = set()
    for err in errors:
        if err.validator != "type" and tuple(err.absolute_path) in typed:
            continue  # the wrong type says it all
        for found in _explain(err, node, path, what, misspelt):
            if found not in seen:  # e.g. "required" yields one error per missing key
                seen.add(found)
                problems.add(*found)


def _join(path: str, part: Any) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else str(part)


def _walk(root: Node, parts: Any, path: str) -> tuple[Node, str]:
    node = root
    for part in parts:
        nxt: Node | None = None
        if isinstance(node, Map) and isinstance(part, str):
            nxt = node.get(part)
        elif isinstance(node, Seq) and isinstance(part, int) and part < len(node.items):
            nxt = node.items[part]
        if nxt is None:
            break
        node, path = nxt, _join(path, part)
    return node, path


Found = tuple[Pos, str, str, str]  # pos, path, message, hint


def _explain(err: Any, root: Node, base: str, what: str,
             misspelt: set[tuple[tuple[Any, ...], str]]) -> Iterator[Found]:
    """The problems one jsonschema error stands for (``root`` is the validated node).

    ``misspelt``: (path, name) of required keys an unknown key was a near miss of.
    """
    node, path = _walk(root, err.absolute_path, base)
    noun = what if path == base else "key"
    v = err.validator
    schema = err.schema if isinstance(err.schema, dict) else {}
    if "propertyNames" in err.relative_schema_path and isinstance(node, Map):
        key = node.key_node(str(err.instance))
        msg = schema.get("errorMessage") or _clean(err.message)
        yield ((key or node).pos, path, f"bad name '{err.instance}': {msg}", "")
    elif v in ("additionalProperties", "unevaluatedProperties") and isinstance(node, Map):
        # Only reached for `false` (a schema for extra keys reports its own errors).
        known = list(schema.get("properties", {}))
        pats = list(schema.get("patternProperties", {}))
        for key in node.keys:
            if key.value in known or any(re.search(p, key.value) for p in pats):
                continue
            yield (key.pos, path, f"unknown {noun} '{key.value}'"
                   f"{did_you_mean(key.value, known)}", "")
    elif v == "required":
        for name in err.validator_value:
            if isinstance(err.instance, dict) and name not in err.instance and (
                    tuple(err.absolute_path), name) not in misspelt:
                yield (node.pos, path, f"missing required {noun} '{name}'", "")
    elif schema.get("$comment") == ONE_SOURCE and v == "oneOf":
        yield _one_source(node, path)
    elif v in ("anyOf", "oneOf"):
        yield from _alternatives(err, root, base, what, node, path, misspelt)
    else:
        yield _generic(err, node, path)


def _one_source(node: Node, path: str) -> Found:
    have = [k for k in SOURCE_KINDS if isinstance(node, Map) and node.get(k) is not None]
    if not have:
        return (node.pos, path, "needs one source: glob, range, values or csv", "")
    second = node.key_node(have[1]) if isinstance(node, Map) else None
    return ((second or node).pos, path, f"has more than one source ({' and '.join(have)}); "
            "an input takes exactly one", "split it into two inputs")


def _alternatives(err: Any, root: Node, base: str, what: str, node: Node, path: str,
                  misspelt: set[tuple[tuple[Any, ...], str]]) -> Iterator[Found]:
    """anyOf/oneOf: if the value has the shape of a branch, that branch's errors;
    else one "expected X or Y, got Z"."""
    schema = err.schema if isinstance(err.schema, dict) else {}
    if not err.context:  # oneOf matched more than one branch
        yield (node.pos, path, schema.get("errorMessage", "matches more than one of its forms"),
               "")
        return
    branches: dict[Any, list[Any]] = {}
    for sub in err.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    shallow = ("type", "const", "enum", "required")
    deep = [subs for subs in branches.values()
            if any(s.relative_path or s.validator not in shallow for s in subs)]
    if "errorMessage" in schema:
        yield (node.pos, path, schema["errorMessage"], "")
        return
    if deep:
        for sub in deep[0]:
            yield from _explain(sub, root, base, what, misspelt)
        return
    if all(s.validator == "required" for s in err.context):
        # anyOf: [{required: [width]}, {required: [height]}]: one of them is needed
        names = [n for s in err.context for n in s.validator_value]
        if not any((tuple(err.absolute_path), n) in misspelt for n in names):
            noun = what if path == base else "key"
            yield (node.pos, path, f"missing required {noun} "
                   f"{_or([repr(n) for n in dict.fromkeys(names)])}", "")
        return
    wanted: list[str] = []
    text_ok = False
    for subs in branches.values():
        for s in subs:
            if s.validator == "type":
                types = _types(s.validator_value)
                wanted += [_TYPE_NAMES.get(t, t) for t in types]
                text_ok = text_ok or "string" in types
            elif s.validator == "const":
                wanted.append(_show(s.validator_value))
                text_ok = text_ok or _text_is(node, [s.validator_value])
            elif s.validator == "enum":
                wanted += [_show(x) for x in s.validator_value]
                text_ok = text_ok or _text_is(node, s.validator_value)
    if not wanted:
        yield (node.pos, path, _clean(err.message), "")
        return
    wanted = list(dict.fromkeys(wanted))
    yield (node.pos, path, f"expected {_or(wanted)}, got {_got(node)}",
           _quote_hint(node, path) if text_ok else "")


def _text_is(node: Node, allowed: list[Any]) -> bool:
    """Would the scalar, quoted, be one of ``allowed``? (For the "quote it" hint.)"""
    return isinstance(node, Scalar) and node.text in allowed


def _types(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def _generic(err: Any, node: Node, path: str) -> Found:
    v, val = err.validator, err.validator_value
    schema = err.schema if isinstance(err.schema, dict) else {}
    got = _got(node)
    hint = ""
    if v == "type":
        types = _types(val)
        message = f"expected {_or([_TYPE_NAMES.get(t, t) for t in types])}, got {got}"
        if "string" in types:
            hint = _quote_hint(node, path)
    elif "errorMessage" in schema:
        message = f"{schema['errorMessage']}, got {got}"
    elif v == "enum":
        choices = [str(c) for c in val]
        near = did_you_mean(node.value, choices) if isinstance(node, Scalar) and isinstance(
            node.value, str) else ""
        message = f"must be one of {', '.join(choices)}, got {got}{near}"
        if _text_is(node, val):
            hint = _quote_hint(node, path)
    elif v == "const":
        message = f"must be {_show(val)}, got {got}"
        if _text_is(node, [val]):
            hint = _quote_hint(node, path)
    elif v in _MESSAGES:
        message = _MESSAGES[v].format(val=val, got=got)
        if v.startswith("min") and val == 1 and v != "minimum":
            message = "must not be empty"
    else:
        message = _clean(err.message)
    return (node.pos, path, message, hint)


_MESSAGES = {
    "minimum": "must be at least {val}, got {got}",
    "maximum": "must be at most {val}, got {got}",
    "exclusiveMinimum": "must be more than {val}, got {got}",
    "exclusiveMaximum": "must be less than {val}, got {got}",
    "multipleOf": "must be a multiple of {val}, got {got}",
    "minItems": "must have at least {val} items",
    "minLength": "must have at least {val} characters",
    "minProperties": "must have at least {val} entries",
    "maxItems": "must have at most {val} items",
    "maxLength": "must have at most {val} characters",
    "maxProperties": "must have at most {val} entries",
    "pattern": "{got} does not match the pattern {val}",
    "uniqueItems": "must not repeat an item",
}


def _clean(message: str) -> str:
    return message[:200]


def _or(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def _surprise(node: Scalar) -> str:
    """What YAML made of an unquoted scalar that was meant as text, or ""."""
    if not node.plain or isinstance(node.value, str) or not node.text:
        return ""
    if isinstance(node.value, bool):
        return f"YAML reads {node.text} as {_show(node.value)}"
    if node.value is None:
        return f"YAML reads {node.text} as nothing (null)"
    return f"YAML reads {node.text} as a number"


def _got(node: Node) -> str:
    """The offending value as the user wrote it."""
    if isinstance(node, Map):
        return "a mapping"
    if isinstance(node, Seq):
        return "a list"
    value = node.value
    if isinstance(value, str):
        return f"'{value}'"
    if value is None and not node.text:
        return "nothing"
    surprise = _surprise(node)
    if surprise and node.text != _show(value):
        return f"{node.text} ({surprise})"
    return node.text or _show(value)


def _quote_hint(node: Node, path: str) -> str:
    """``quote it: format: "no"`` for a YAML 1.1 surprise, else ""."""
    if not isinstance(node, Scalar) or not _surprise(node):
        return ""
    why = {bool: "YAML reads yes, no, on and off as booleans",
           type(None): "YAML reads null and ~ as nothing"}.get(type(node.value),
                                                               "YAML reads it as a number")
    text = node.text.replace('"', '\\"')
    if node.via:
        return f'the value comes from param \'{node.via}\': quote it: {node.via}: "{text}" ({why})'
    key = path.rsplit(".", 1)[-1] if path and not path.endswith("]") else ""
    shown = f'{key}: "{text}"' if key else f'"{text}"'
    return f"quote it: {shown} ({why})"
