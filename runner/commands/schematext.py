"""A JSON Schema said in words: a value's type, what it allows, its default, in YAML's spelling.

Shared by ``flow steps NAME`` and the generated references in ``docs/``, so the
screen and the docs say the same thing about every argument and key.
"""

from __future__ import annotations

import json
import re
from typing import Any

_PLAIN = re.compile(r"[A-Za-z_][\w./-]*( [\w./-]+)*")
_SUFFIXES = re.compile(r"\\\.\(([\w|]+)\)\$")  # \.(json|csv|txt)$: a choice of suffixes
_ROLE = re.compile(r":(?:py:)?(func|meth|class|mod|attr|data|obj|exc|ref):`~?([^`]+)`")


def yaml_value(value: Any) -> str:
    """``value`` as it is written in a workflow: ``true``, ``null``, ``[2, 3]``, ``"1"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {yaml_value(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if _PLAIN.fullmatch(text) and _reads_as_text(text):
        return text
    return json.dumps(text)


def _reads_as_text(text: str) -> bool:
    """Whether YAML reads ``text``, unquoted, as that text (not ``no`` -> false, ``1`` -> 1)."""
    import yaml

    try:
        return yaml.safe_load(text) == text
    except yaml.YAMLError:
        return False


def plain_text(text: str) -> str:
    """``text`` without reStructuredText markup: ``x`` -> x, :func:`a.b` -> a.b()."""
    def role(m: re.Match[str]) -> str:
        name = m.group(2)
        return name + "()" if m.group(1) in ("func", "meth") else name

    return _ROLE.sub(role, text).replace("``", "")


def branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives of a oneOf/anyOf value, or the value itself.

    With a ``type`` of its own, a oneOf/anyOf is a rule on that value (which keys
    a mapping needs), not a choice of what the value is.
    """
    if "type" in schema:
        return [schema]
    for key in ("oneOf", "anyOf"):
        if isinstance(schema.get(key), list):
            return [b for b in schema[key] if isinstance(b, dict)]
    return [schema]


_NAMES = {"integer": ("integer", "integers"), "number": ("number", "numbers"),
          "string": ("string", "strings"), "boolean": ("boolean", "booleans"),
          "null": ("null", "nulls"), "object": ("mapping", "mappings"),
          "array": ("list", "lists")}


def type_text(schema: dict[str, Any], plural: bool = False) -> str:
    """The value's type: ``integer``, ``integer or list of 2 integers``, ``string or null``."""
    alts = branches(schema)
    if len(alts) > 1:
        return " or ".join(dict.fromkeys(type_text(b, plural) for b in alts))
    if "const" in schema:
        return yaml_value(schema["const"])
    kinds = schema.get("type")
    if kinds is None and "enum" in schema:
        kinds = sorted({_json_type(v) for v in schema["enum"]})
    if kinds is None:
        return "values" if plural else "any value"
    words = []
    for kind in [kinds] if isinstance(kinds, str) else kinds:
        if kind == "array":
            words.append(_list_text(schema, plural))
        else:
            words.append(_NAMES.get(kind, (kind, kind + "s"))[plural])
    return " or ".join(words)


def _list_text(schema: dict[str, Any], plural: bool) -> str:
    items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
    low, high = schema.get("minItems"), schema.get("maxItems")
    count = f"{low} " if low is not None and low == high else ""
    return f"{'lists' if plural else 'list'} of {count}{type_text(items, True)}"


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "null" if value is None else "string"


def allowed_text(schema: dict[str, Any]) -> str:
    """What the value may be beyond its type: choices, a range, a pattern; "" if anything."""
    found = []
    for alt in branches(schema):
        text = _allowed_one(alt)
        if text and text not in found:
            found.append(text)
    return "; ".join(found)


def _allowed_one(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return ", ".join(yaml_value(v) for v in schema["enum"])
    items = schema.get("items")
    if schema.get("type") == "array" and isinstance(items, dict):
        return _allowed_one(items)  # the same bounds, each item: "1 to 100000"
    low = schema.get("minimum")
    high = schema.get("maximum")
    parts = []
    if low is not None and high is not None:
        parts.append(f"{yaml_value(low)} to {yaml_value(high)}")
    elif low is not None:
        parts.append(f"at least {yaml_value(low)}")
    elif high is not None:
        parts.append(f"at most {yaml_value(high)}")
    if "exclusiveMinimum" in schema:
        parts.append(f"more than {yaml_value(schema['exclusiveMinimum'])}")
    if "exclusiveMaximum" in schema:
        parts.append(f"less than {yaml_value(schema['exclusiveMaximum'])}")
    if isinstance(schema.get("not"), dict) and "const" in schema["not"]:
        parts.append(f"not {yaml_value(schema['not']['const'])}")
    if "pattern" in schema and "errorMessage" in schema:
        parts.append(schema["errorMessage"])  # the pattern said in words
    elif "pattern" in schema:
        suffixes = _SUFFIXES.fullmatch(schema["pattern"])
        parts.append("ending in " + _or(["." + x for x in suffixes.group(1).split("|")])
                     if suffixes else f"matching {schema['pattern']}")
    return ", ".join(parts)


def default_text(schema: dict[str, Any]) -> str | None:
    """The default in YAML's spelling, or None when the schema gives none."""
    return yaml_value(schema["default"]) if "default" in schema else None


def rules_text(schema: dict[str, Any]) -> list[str]:
    """Rules on a mapping as a whole: which keys it needs, which exclude each other."""
    rules = []
    required = [b.get("required") for b in schema.get("anyOf", ()) if isinstance(b, dict)]
    if required and all(isinstance(r, list) and len(r) == 1 for r in required):
        rules.append("needs: " + " or ".join(r[0] for r in required))  # type: ignore[index]
    if schema.get("minProperties") == 1 and not schema.get("required"):
        rules.append("needs: at least one of them")
    for key, dep in (schema.get("dependentSchemas") or {}).items():
        others = [r.get("required", [""])[0] for r in dep.get("not", {}).get("anyOf", ())]
        if others:
            rules.append(f"{key}: not together with {', '.join(others)}")
    return rules


def _or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
