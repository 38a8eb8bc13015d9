"""The workflow JSON Schema (Draft 2020-12) itself: what a workflow file may hold.

:func:`base_schema` is the structure of a workflow file (``with`` left open);
:func:`workflow_schema` composes it with every registered step's own argument
schema, for editors (``flow schema``). Validating against it, and saying what
is wrong in the user's words, is :mod:`runner.compile.validate`'s job.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from runner.compile.params import PARAM_NAME

ID_PATTERN = r"^[a-z][a-z0-9_-]*$"
ID_MESSAGE = ("must start with a lowercase letter and hold only lowercase letters, digits, "
              "'-' and '_'")
SOURCE_KINDS = ("glob", "range", "values", "csv")
ONE_SOURCE = "flow:one-source"  # $comment marking the "exactly one source kind" rule


def _auto_int() -> dict[str, Any]:
    return {"anyOf": [{"type": "integer", "minimum": 1}, {"const": "auto"}]}


def _str_list() -> dict[str, Any]:
    text = {"type": "string", "minLength": 1}
    return {"anyOf": [text, {"type": "array", "minItems": 1, "items": text}]}


def _settings() -> dict[str, Any]:
    """The step settings that ``defaults`` may also give."""
    return {
        "parallel": {
            "type": "object", "additionalProperties": False,
            "description": "how this step's items are spread over the workers",
            "properties": {
                "mode": {"enum": ["map", "async", "serial"]},
                "workers": _auto_int(),
                "chunksize": _auto_int(),
            },
        },
        "retries": {"type": "integer", "minimum": 0,
                    "description": "extra attempts for a failed item"},
        "timeout": {"type": "number", "exclusiveMinimum": 0,
                    "description": "seconds one item may take"},
        "on_error": {"enum": ["continue", "stop"]},
    }


def base_schema() -> dict[str, Any]:
    """The JSON Schema (Draft 2020-12) of a workflow file, ``with`` left open."""
    scalar = {"type": ["string", "number", "boolean", "null"]}
    step = {
        "type": "object", "additionalProperties": False, "required": ["id", "uses"],
        "properties": {
            "id": {"type": "string", "pattern": ID_PATTERN, "errorMessage": ID_MESSAGE},
            "uses": {"type": "string", "minLength": 1,
                     "description": "a registered step, py:module:function, or a .yaml file"},
            "with": {"type": ["object", "null"], "description": "the step's arguments"},
            "from": {"anyOf": [{"type": "string", "minLength": 1},
                               {"type": "array", "minItems": 1,
                                "items": {"type": "string", "minLength": 1}}],
                     "description": "an input name, a step id above, or a list of them"},
            **_settings(),
        },
    }
    source = {
        "type": "object", "additionalProperties": False,
        "$comment": ONE_SOURCE,
        "oneOf": [{"required": [k]} for k in SOURCE_KINDS],
        "properties": {
            "glob": _str_list(),
            "exclude": _str_list(),
            "allow_empty": {"type": "boolean"},
            "range": {"anyOf": [
                {"type": "object", "additionalProperties": False, "required": ["stop"],
                 "properties": {"start": {"type": "number"}, "stop": {"type": "number"},
                                "step": {"type": "number", "not": {"const": 0},
                                         "errorMessage": "must not be 0"}}},
                {"type": "number"}]},
            "values": {"type": "array", "items": {"type": ["number", "string"]}},
            "csv": {
                "type": "object", "additionalProperties": False, "required": ["column"],
                "oneOf": [{"required": ["path"]}, {"required": ["glob"]}],
                "errorMessage": "needs exactly one of path and glob",
                "properties": {"path": {"type": "string", "minLength": 1},
                               "glob": {"type": "string", "minLength": 1},
                               "column": {"anyOf": [{"type": "string", "minLength": 1},
                                                    {"type": "integer", "minimum": 0}]},
                               "header": {"type": "boolean"}},
            },
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "flow workflow",
        "type": "object", "additionalProperties": False,
        "required": ["flow", "name", "inputs", "steps"],
        "properties": {
            "flow": {"const": 1, "description": "format version; only 1 exists"},
            "name": {"type": "string", "pattern": ID_PATTERN, "errorMessage": ID_MESSAGE},
            "description": {"type": "string"},
            "params": {
                "type": "object",
                "propertyNames": {"pattern": PARAM_NAME,
                                  "errorMessage": "a param name is letters, digits, '_' and "
                                                  "'-', starting with a letter or '_'"},
                "additionalProperties": {"anyOf": [scalar, {"type": "array", "items": scalar}]},
            },
            "defaults": {"type": "object", "additionalProperties": False,
                         "properties": _settings()},
            "inputs": {"type": "object", "minProperties": 1,
                       "propertyNames": {"pattern": ID_PATTERN, "errorMessage": ID_MESSAGE},
                       "additionalProperties": source},
            "steps": {"type": "array", "minItems": 1, "items": step},
            "executor": {"type": "object", "additionalProperties": False,
                         "properties": {"kind": {"enum": ["local", "dask"]},
                                        "address": {"type": "string"}}},
        },
    }


# A value that is a whole ``${name}`` takes the param's type, whatever it is: in the schema
# an editor reads (the file before substitution) it is valid wherever a value goes.
PARAM_VALUE = {"type": "string", "pattern": r"^\$\{" + PARAM_NAME[1:-1] + r"\}$",
               "description": "a ${param}: the param's value, of its own type"}


def _param_or(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` for a value that may also be a whole ``${param}``, at any depth."""
    return {"anyOf": [PARAM_VALUE, _params_inside(schema)]}


def _params_inside(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` whose nested values (properties, items) may be ``${param}``s.

    ``if`` and ``not`` are left alone: a param there would change which rule applies.
    """
    out = dict(schema)
    if "properties" in out:
        out["properties"] = {k: _param_or(v) for k, v in out["properties"].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = _param_or(out[key])
    for key in ("anyOf", "oneOf", "allOf"):
        if key in out:
            out[key] = [_params_inside(s) for s in out[key]]
    if "then" in out:
        out["then"] = _params_inside(out["then"])
    return out


def workflow_schema(registry: Mapping[str, Any]) -> dict[str, Any]:
    """The workflow schema with each registered step's ``with`` schema, for editors.

    Unlike :func:`base_schema` (checked after substitution), a whole ``${param}`` is
    valid here wherever a value goes.
    """
    schema = base_schema()
    step = schema["properties"]["steps"]["items"]
    step["properties"]["uses"]["anyOf"] = [
        {"enum": sorted(registry)},
        {"type": "string", "pattern": r"^py:[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$"},
        {"type": "string", "pattern": r"\.ya?ml$"},
    ]
    rules = []
    for name in sorted(registry):
        sd = registry[name]
        with_schema = copy.deepcopy(sd.schema)
        if sd.description:
            with_schema.setdefault("description", sd.description)
        rules.append({"if": {"properties": {"uses": {"const": name}}, "required": ["uses"]},
                      "then": {"properties": {"with": with_schema}}})
    step["allOf"] = rules
    return _params_inside(schema)
