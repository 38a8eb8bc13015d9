"""``io.write`` and the atomic file writer every output of flow goes through.

An output under its final name is always whole: it is written to a hidden
temporary name in the same folder and renamed into place (``os.replace`` is
atomic within one file system), so a crash, a kill or a failed write leaves
either the older file or none, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from steps.registry import step

# Keeps the temporary name within the usual 255-byte name limit.
_MAX_STEM = 100


def temp_name(path: str) -> str:
    """A unique hidden name beside ``path`` (same folder, so the rename stays atomic)."""
    folder, base = os.path.split(path)
    # pid + random: unique across the workers writing into one folder at once.
    tag = f"{os.getpid()}.{os.urandom(4).hex()}"
    return os.path.join(folder, f".{base[:_MAX_STEM]}.{tag}.part")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    Parent folders are created. If the body raises (or is interrupted), the
    temporary file is deleted and an existing file at ``path`` is left untouched.
    The temporary file is created by the writer, so it gets the usual permissions.
    No fsync: whole-or-absent holds against killed processes, which is the promise;
    syncing every thumbnail would cost more than the work itself.
    """
    final = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(final))
    os.makedirs(folder, exist_ok=True)
    tmp = temp_name(os.path.join(folder, os.path.basename(final)))
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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
    first-seen order), plain values a ``value`` column. TXT: one line per value.
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
    with atomic_path(to) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
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
    if values and all(isinstance(v, dict) for v in values):
        header = list(dict.fromkeys(k for v in values for k in v))
        writer.writerow(header)
        writer.writerows([_cell(v.get(k)) for k in header] for v in values)
    elif values and all(isinstance(v, (list, tuple)) for v in values):
        writer.writerows([_cell(c) for c in v] for v in values)
    else:
        writer.writerow(["value"])
        writer.writerows([_cell(v)] for v in values)
    return buf.getvalue()


_PART = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.part$")


def sweep_temp(folders: Iterable[str]) -> int:
    """Delete temporary files that killed writers left in ``folders``; returns how many.

    A temporary file whose writer process is still alive is left alone (another run
    may be writing it).
    """
    removed = 0
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            m = _PART.match(name)
            if m is None or _alive(int(m.group(1))):
                continue
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, name))
                removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
