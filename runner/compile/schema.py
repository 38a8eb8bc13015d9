"""The workflow JSON Schema (Draft 2020-12) itself: what a workflow file may hold.

:func:`base_schema` is the structure of a workflow file (``with`` left open);
:func:`workflow_schema` composes it with every registered step's own argument
schema, for editors (``flow schema``), on files as written: a ``${param}`` may
stand for any value. Validating (after substitution, against :func:`base_schema`
and each step's schema), and saying what is wrong in the user's words, is
:mod:`runner.compile.validate`'s job.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from runner.compile.params import PARAM_NAME

ID_PATTERN = r"^[a-z][a-z0-9_-]*$"
ID_MESSAGE = ("must start with a lowercase letter and hold only lowercase letters, digits, "
              "'-' and '_'")
SOURCE_KINDS = ("glob", "range", "values", "csv")
ONE_SOURCE = "flow:one-source"  # $comment marking the "exactly one source kind" rule


# A whole value that is one param (flow strips the name: `${ size }` works too). In the
# editor's hover on a param the title heads the argument's description; having one keeps
# this branch apart from the value's own (the editor compares their titles).
PARAM_REF = {"type": "string", "pattern": r"^\$\{\s*" + PARAM_NAME[1:-1] + r"\s*\}$",
             "title": "${param}",
             "$comment": "a param: ${name} takes its value (and type) from params or -p"}
_PARAM = {"$ref": "#/$defs/param"}
# Kept on the outside of a value's schema when it becomes a choice: what an editor shows.
_ANNOTATIONS = ("title", "description", "markdownDescription", "default", "examples")


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
                "mode": {"enum": ["map", "async", "serial"], "default": "map",
                         "description": "map: chunks of items on the process pool; async: "
                                        "one item per call; serial: in flow's own process"},
                "workers": {**_auto_int(), "default": "auto",
                            "description": "worker processes; auto: the usable CPUs, never "
                                           "more than the items or --jobs"},
                "chunksize": {**_auto_int(), "default": "auto",
                              "description": "items per task in mode map; auto: about 16 "
                                             "chunks per worker, at most 64 items"},
            },
        },
        "retries": {"type": "integer", "minimum": 0, "default": 0,
                    "description": "extra attempts for a failed item"},
        "timeout": {"type": "number", "exclusiveMinimum": 0,
                    "description": "seconds one item (or one reduce) may take; past it the "
                                   "worker is ended and replaced, and the item fails"},
        "on_error": {"enum": ["continue", "stop"], "default": "continue",
                     "description": "continue: report the item, drop it downstream, go on "
                                    "(exit 1); stop: cancel the run at the first failure"},
    }


def base_schema() -> dict[str, Any]:
    """The JSON Schema (Draft 2020-12) of a workflow file, ``with`` left open."""
    scalar = {"type": ["string", "number", "boolean", "null"]}
    step = {
        "type": "object", "additionalProperties": False, "required": ["id", "uses"],
        "properties": {
            "id": {"type": "string", "pattern": ID_PATTERN, "errorMessage": ID_MESSAGE,
                   "description": "the step's name, unique in the file; later steps take "
                                  "from it with from:"},
            "uses": {"type": "string", "minLength": 1,
                     "description": "a registered step (image.resize), a Python function "
                                    "(py:module:function), a workflow file (./shared/x.yaml) "
                                    "or one in an installed step package (pkg:package/x.yaml)"},
            "with": {"type": ["object", "null"],
                     "description": "the step's arguments (flow steps NAME lists them)"},
            "from": {"anyOf": [{"type": "string", "minLength": 1},
                               {"type": "array", "minItems": 1,
                                "items": {"type": "string", "minLength": 1}}],
                     "description": "an input name, a step id above, or a list of them (items "
                                    "in that order); default: the step above; the first step "
                                    "must say"},
            **_settings(),
        },
    }
    source = {
        "type": "object", "additionalProperties": False,
        "$comment": ONE_SOURCE,
        "oneOf": [{"required": [k]} for k in SOURCE_KINDS],
        "properties": {
            "glob": {**_str_list(),
                     "description": "a pattern or a list (** recursive): regular files, sorted, "
                                    "hidden files left out; no match is an error"},
            "exclude": {**_str_list(), "description": "patterns of files the glob leaves out"},
            "allow_empty": {"type": "boolean", "default": False,
                            "description": "true: a glob that matches nothing is no error"},
            "range": {"anyOf": [
                {"type": "object", "additionalProperties": False, "required": ["stop"],
                 "properties": {
                     "start": {"type": "number", "default": 0, "description": "the first number"},
                     "stop": {"type": "number", "description": "where it ends (not included)"},
                     "step": {"type": "number", "not": {"const": 0}, "default": 1,
                              "errorMessage": "must not be 0",
                              "description": "the difference between neighbours"}}},
                {"type": "number"}],
                "description": "numbers as Python's range: {start, stop, step}, stop "
                               "excluded; a number alone is the stop"},
            "values": {"type": "array", "items": {"type": ["number", "string"]},
                       "description": "the items themselves"},
            "csv": {
                "description": "one item per row: the numbers of one column of a CSV file",
                "type": "object", "additionalProperties": False, "required": ["column"],
                "oneOf": [{"required": ["path"]}, {"required": ["glob"]}],
                "errorMessage": "needs exactly one of path and glob",
                "properties": {"path": {"type": "string", "minLength": 1,
                                        "description": "the CSV file"},
                               "glob": {"type": "string", "minLength": 1,
                                        "description": "CSV files, read in sorted order"},
                               "column": {"anyOf": [{"type": "string", "minLength": 1},
                                                    {"type": "integer", "minimum": 0}],
                                          "description": "the column: its name in the header, "
                                                         "or its index from 0"},
                               "header": {"type": "boolean", "default": True,
                                          "description": "whether the first row names the "
                                                         "columns"}},
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
            "name": {"type": "string", "pattern": ID_PATTERN, "errorMessage": ID_MESSAGE,
                     "description": "the workflow's name"},
            "description": {"type": "string", "description": "what it does, in a paragraph"},
            "params": {
                "type": "object",
                "description": "name -> default value (a scalar or a list); ${name} uses one, "
                               "-p name=value overrides it",
                "propertyNames": {"pattern": PARAM_NAME,
                                  "errorMessage": "a param name is letters, digits, '_' and "
                                                  "'-', starting with a letter or '_'"},
                "additionalProperties": {"anyOf": [scalar, {"type": "array", "items": scalar}]},
            },
            "defaults": {"type": "object", "additionalProperties": False,
                         "properties": _settings(),
                         "description": "parallel, retries, timeout and on_error for every "
                                        "step that does not set them"},
            "inputs": {"type": "object", "minProperties": 1,
                       "description": "name -> one source of items",
                       "propertyNames": {"pattern": ID_PATTERN, "errorMessage": ID_MESSAGE},
                       "additionalProperties": source},
            "steps": {"type": "array", "minItems": 1, "items": step,
                      "description": "what is done to the items, in order"},
            "executor": {"type": "object", "additionalProperties": False,
                         "description": "where it runs; the command line's --executor and "
                                        "--scheduler win",
                         "properties": {
                             "kind": {"enum": ["local", "dask"], "default": "local",
                                      "description": "local: a process pool on this machine; "
                                                     "dask: a Dask cluster"},
                             "address": {"type": "string",
                                         "description": "a Dask scheduler (tcp://host:port); "
                                                        "none: a local cluster"}}},
        },
    }


def workflow_schema(registry: Mapping[str, Any]) -> dict[str, Any]:
    """The schema of workflow files as they are written, for editors (``flow schema``).

    Each registered step's ``with`` schema is tied to its name, step names are
    offered with their descriptions, arguments carry their defaults in the text
    an editor shows on hover, and a ``${param}`` is valid wherever a value goes:
    the file is read before its params are substituted. (Validation uses
    :func:`base_schema` and the steps' own schemas on the substituted tree.)
    """
    schema = base_schema()
    step = schema["properties"]["steps"]["items"]
    names = sorted(registry)
    step["properties"]["uses"] = {
        "description": step["properties"]["uses"]["description"],
        "anyOf": [  # the names first: an editor offers them, each with its description
            {"enum": names, "enumDescriptions": [registry[n].description for n in names]},
            {"type": "string", "pattern": r"^py:[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$",
             "description": "a Python function: py:package.module:function"},
            {"type": "string", "pattern": r"\.ya?ml$",
             "description": "another workflow file: ./shared/x.yaml or pkg:package/x.yaml"},
        ]}
    # A hover on `with:` shows the step's own title and description, not this generic one.
    del step["properties"]["with"]["description"]
    rules = []
    for name in names:
        sd = registry[name]
        with_schema = copy.deepcopy(sd.schema)
        with_schema.setdefault("title", name)  # an editor's heading for the arguments
        if sd.description:
            with_schema.setdefault("description", sd.description)
        for arg in with_schema.get("properties", {}).values():
            _show_default(arg)
        rules.append({"if": {"properties": {"uses": {"const": name}}, "required": ["uses"]},
                      "then": {"properties": {"with": with_schema}}})
    step["allOf"] = rules
    schema = _accept_params(schema, value=False)
    schema["$defs"] = {"param": PARAM_REF}
    return schema


def _show_default(arg: Any) -> None:
    """Put an argument's default into the markdown an editor shows on hover."""
    if not isinstance(arg, dict) or "default" not in arg:
        return
    value = arg["default"]
    shown = (value if isinstance(value, str) else "null" if value is None
             else json.dumps(value))  # YAML's spelling: true, not True
    text = arg.get("markdownDescription") or arg.get("description", "")
    arg["markdownDescription"] = f"{text}\n\nDefault: `{shown}`".lstrip()


def _object_only(schema: dict[str, Any]) -> bool:
    """Whether no param could stand for this value (a param is a scalar or a list)."""
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds or []
    if kinds == ["object"]:
        return True
    items = schema.get("items")
    return kinds == ["array"] and isinstance(items, dict) and _object_only(items)


def _accept_params(schema: Any, value: bool) -> Any:
    """``schema`` with a ``${param}`` string allowed at each place that holds a value.

    ``value``: ``schema`` describes a value of its own (a property, an item), not
    another view of the value around it (an ``anyOf`` member, a ``then``). There
    the original becomes one branch of an ``anyOf`` next to the param, its
    annotations kept outside so an editor still shows them. ``if`` and ``not``
    are left alone: a param there would change what they match.
    """
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in ("properties", "patternProperties"):
        if isinstance(out.get(key), dict):
            out[key] = {k: _accept_params(v, True) for k, v in out[key].items()}
    for key in ("additionalProperties", "items"):
        if isinstance(out.get(key), dict):
            out[key] = _accept_params(out[key], True)
    if isinstance(out.get("prefixItems"), list):
        out["prefixItems"] = [_accept_params(s, True) for s in out["prefixItems"]]
    for key in ("allOf", "anyOf", "oneOf"):
        if isinstance(out.get(key), list):
            out[key] = [_accept_params(s, False) for s in out[key]]
    for key in ("then", "else"):
        if key in out:
            out[key] = _accept_params(out[key], False)
    if not value or _object_only(out):
        return out
    if set(out) - set(_ANNOTATIONS) == {"anyOf"}:  # already a choice: one more branch
        return {**out, "anyOf": [*out["anyOf"], _PARAM]}
    notes = {k: out.pop(k) for k in _ANNOTATIONS if k in out}
    return {**notes, "anyOf": [out, _PARAM]}
