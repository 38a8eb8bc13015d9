"""``io.write``: values to one .json, .csv or .txt file, through the atomic writer
(:mod:`steps.atomic`), so the file is whole or absent."""

from __future__ import annotations

import os
import sys
from typing import Any

from steps.atomic import atomic_file
from steps.registry import step

_WRITE_SCHEMA = {
    "type": "object",
    "properties": {
        "to": {"type": "string", "minLength": 1, "pattern": r"\.(json|csv|txt)$",
               "description": "output file; its suffix (.json, .csv or .txt) picks the format"},
        "as_list": {"type": "boolean", "default": False,
                    "description": "JSON: always write a list, even for a single value"},
    },
    "required": ["to"],
}


@step("io.write", kind="reduce", schema=_WRITE_SCHEMA, takes="any", gives="path",
      outputs=("to",))
def write(values: list[Any], to: str, as_list: bool = False) -> str:
    """Write every value it gets to one .json, .csv or .txt file; gives the file's path.

    JSON: a single value (e.g. the output of ``numeric.stats``) is written as itself,
    several as a list. CSV: one row per value; dicts give a header (their keys, in
    first-seen order), plain values a ``value`` column; a histogram (the output of
    ``numeric.histogram``) one row per bin: ``left,right,count``. TXT: one line per value.
    """
    values = list(values)
    _refuse_images(values)
    suffix = os.path.splitext(to)[1].lower()
    if suffix == ".json":
        text = _as_json(values[0] if len(values) == 1 and not as_list else values)
    elif suffix == ".csv":
        text = _as_csv(values)
    elif suffix == ".txt":
        text = "".join(_as_line(v) + "\n" for v in values)
    else:
        raise ValueError(f"io.write: cannot write {suffix or 'a file without suffix'}; "
                         "use .json, .csv or .txt")
    with atomic_file(to, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    return to


def _refuse_images(values: list[Any]) -> None:
    pil = sys.modules.get("PIL.Image")  # no Pillow loaded: no image can be here
    for v in values:
        if pil is not None and isinstance(v, pil.Image):
            raise ValueError("io.write cannot write images; use image.save or "
                             "image.contact_sheet")


def _as_json(value: Any) -> str:
    import json

    # default=str: paths, decimals and the like are written as text, not refused.
    return json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n"


def _as_line(value: Any) -> str:
    if isinstance(value, str):
        return value.replace("\n", " ")
    if isinstance(value, (dict, list, tuple)):
        import json

        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, (dict, list, tuple)):
        import json

        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _as_csv(values: list[Any]) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if values and all(_is_histogram(v) for v in values):
        writer.writerow(["left", "right", "count"])
        for v in values:
            edges, counts = v["edges"], v["counts"]
            writer.writerows(zip(edges[:-1], edges[1:], counts, strict=True))
    elif values and all(isinstance(v, dict) for v in values):
        header = list(dict.fromkeys(k for v in values for k in v))
        writer.writerow(header)
        writer.writerows([_cell(v.get(k)) for k in header] for v in values)
    elif values and all(isinstance(v, (list, tuple)) for v in values):
        writer.writerows([_cell(c) for c in v] for v in values)
    else:
        writer.writerow(["value"])
        writer.writerows([_cell(v)] for v in values)
    return buf.getvalue()


def _is_histogram(value: Any) -> bool:
    """``{"edges": [n + 1 numbers], "counts": [n ints]}``, as ``numeric.histogram`` gives."""
    if not isinstance(value, dict) or set(value) != {"edges", "counts"}:
        return False
    edges, counts = value["edges"], value["counts"]
    return isinstance(edges, list) and isinstance(counts, list) and \
        len(edges) == len(counts) + (1 if counts else 0)
