"""A quick yes/no for JSON Schema validity, so a valid workflow never imports jsonschema.

``jsonschema`` costs ~50 ms to import, a third of ``flow validate``'s budget.
Most files are valid, and telling *that* needs only the plain keywords our
schemas use. :func:`verdict` answers True (valid), False (invalid) or None
(a keyword it does not know: cannot tell). Only True is trusted: False and None
send the instance to jsonschema, which finds and explains the errors. So this
module can never hide an error, only skip the slow path when there is none;
tests check it against jsonschema on every registered step's schema.
"""

from __future__ import annotations

import re
from typing import Any

# Keywords that never affect validity (Draft 2020-12 annotations, and ours).
_ANNOTATIONS = frozenset({
    "$schema", "$id", "$comment", "$defs", "title", "description", "default", "examples",
    "deprecated", "readOnly", "writeOnly", "format", "errorMessage", "markdownDescription",
})
_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
}
_NUM = (int, float)


def verdict(value: Any, schema: Any) -> bool | None:
    """Is ``value`` valid under ``schema``? None when this checker cannot tell."""
    if schema is True or schema == {}:
        return True
    if schema is False:
        return False
    if not isinstance(schema, dict):
        return None
    result: bool | None = True
    for key, arg in schema.items():
        if key in _ANNOTATIONS:
            continue
        check = _CHECKS.get(key)
        if check is None:
            return None  # $ref, dependentSchemas, ...: leave it to jsonschema
        ok = check(value, arg, schema)
        if ok is False:
            return False
        if ok is None:
            result = None
    return result


def _all(results: Any) -> bool | None:
    out: bool | None = True
    for r in results:
        if r is False:
            return False
        if r is None:
            out = None
    return out


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: booleans are not numbers; lists and dicts compared deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a == b  # 1 == 1.0, as JSON means it


def _type(v: Any, arg: Any, _: dict) -> bool | None:
    names = arg if isinstance(arg, list) else [arg]
    if any(n not in _TYPES for n in names):
        return None
    return any(_TYPES[n](v) for n in names)


def _num(test: Any) -> Any:
    def check(v: Any, arg: Any, _: dict) -> bool | None:
        if not isinstance(v, _NUM) or isinstance(v, bool):
            return True  # numeric keywords ignore other types
        return bool(test(v, arg))
    return check


def _sized(kind: type, test: Any) -> Any:
    def check(v: Any, arg: Any, _: dict) -> bool | None:
        return True if not isinstance(v, kind) else bool(test(len(v), arg))
    return check


def _pattern(v: Any, arg: Any, _: dict) -> bool | None:
    return True if not isinstance(v, str) else re.search(arg, v) is not None


def _properties(v: Any, arg: Any, _: dict) -> bool | None:
    if not isinstance(v, dict):
        return True
    return _all(verdict(v[k], s) for k, s in arg.items() if k in v)


def _pattern_properties(v: Any, arg: Any, _: dict) -> bool | None:
    if not isinstance(v, dict):
        return True
    return _all(verdict(val, s) for p, s in arg.items() for k, val in v.items()
                if re.search(p, k))


def _additional(v: Any, arg: Any, schema: dict) -> bool | None:
    if not isinstance(v, dict):
        return True
    props = schema.get("properties", {})
    pats = list(schema.get("patternProperties", {}))
    extra = [k for k in v if k not in props and not any(re.search(p, k) for p in pats)]
    return _all(verdict(v[k], arg) for k in extra)


def _required(v: Any, arg: Any, _: dict) -> bool | None:
    return True if not isinstance(v, dict) else all(k in v for k in arg)


def _property_names(v: Any, arg: Any, _: dict) -> bool | None:
    return True if not isinstance(v, dict) else _all(verdict(k, arg) for k in v)


def _items(v: Any, arg: Any, schema: dict) -> bool | None:
    if "prefixItems" in schema:
        return None
    return True if not isinstance(v, list) else _all(verdict(x, arg) for x in v)


def _any_of(v: Any, arg: Any, _: dict) -> bool | None:
    results = [verdict(v, s) for s in arg]
    if True in results:
        return True
    return None if None in results else False


def _one_of(v: Any, arg: Any, _: dict) -> bool | None:
    results = [verdict(v, s) for s in arg]
    return None if None in results else results.count(True) == 1


def _not(v: Any, arg: Any, _: dict) -> bool | None:
    r = verdict(v, arg)
    return None if r is None else not r


def _if(v: Any, arg: Any, schema: dict) -> bool | None:
    cond = verdict(v, arg)
    if cond is None:
        return None
    branch = schema.get("then" if cond else "else", True)
    return verdict(v, branch)


_CHECKS: dict[str, Any] = {
    "type": _type,
    "enum": lambda v, arg, _: any(_equal(v, x) for x in arg),
    "const": lambda v, arg, _: _equal(v, arg),
    "minimum": _num(lambda v, a: v >= a),
    "maximum": _num(lambda v, a: v <= a),
    "exclusiveMinimum": _num(lambda v, a: v > a),
    "exclusiveMaximum": _num(lambda v, a: v < a),
    "minLength": _sized(str, lambda n, a: n >= a),
    "maxLength": _sized(str, lambda n, a: n <= a),
    "minItems": _sized(list, lambda n, a: n >= a),
    "maxItems": _sized(list, lambda n, a: n <= a),
    "minProperties": _sized(dict, lambda n, a: n >= a),
    "maxProperties": _sized(dict, lambda n, a: n <= a),
    "pattern": _pattern,
    "properties": _properties,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional,
    "required": _required,
    "propertyNames": _property_names,
    "items": _items,
    "anyOf": _any_of,
    "oneOf": _one_of,
    "allOf": lambda v, arg, _: _all(verdict(v, s) for s in arg),
    "not": _not,
    "if": _if,
    "then": lambda v, arg, _: True,  # judged with "if"
    "else": lambda v, arg, _: True,
}
