"""Workflow files used as steps (``uses: ./shared/thumbs.yaml``): inlined and wired in.

A step may use another workflow file (relative to the including file, or
``pkg:package/file.yaml`` inside an installed step package). Its steps
are inlined with ids prefixed ``<id>.``; the including step's ``with`` sets its
params. Its own ``inputs`` are not read: wherever its steps take from one of its
inputs (its first step always does), they take from the including step's
``from`` instead. A later step may take from ``<id>`` (the included file's last
step) or from ``<id>.<inner id>``. Settings of an inlined step: its own, then its
file's ``defaults``, then the including step's ``parallel``/``retries``/
``timeout``/``on_error``, then the including file's ``defaults``. Output paths
always resolve against the working directory, whichever file wrote them.

A file included ten times by a file included ten times... grows ten-fold per
level: in one load at most :data:`MAX_INLINED_FILES` files are read for inlining
and :data:`MAX_INLINED_STEPS` steps inlined; past that the ``uses:`` that goes too
far is refused (once), before its file is read.
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass, replace
from typing import Any, Protocol

from runner.compile.draft import Draft
from runner.compile.packages import NotFound, find_workflow
from runner.compile.tree import Map, Node
from runner.errors import Pos, did_you_mean

UPSTREAM = "<upstream>"  # an included file's input: the including step's sources
MAX_INCLUDES = 16
MAX_INLINED_FILES = 200  # files read for inlining in one load (a file used twice counts twice)
MAX_INLINED_STEPS = 2_000  # steps inlined in one load
_HINT = "a file that includes another many times, which does the same, grows ten-fold per level"


class IncludedDoc(Protocol):
    """What :func:`include` needs of a loaded workflow file."""

    params: dict[str, Node]
    input_names: list[str]
    steps: list[Draft]


class Loader(Protocol):
    """What :func:`include` needs of the loader: report a problem, load a file."""

    def add(self, pos: Pos, path: str, message: str, hint: str = "") -> None: ...

    def load(self, path: str, cli: dict[str, str] | None, given: dict[str, Node] | None,
             chain: tuple[str, ...]) -> IncludedDoc | None: ...


@dataclass
class _Count:
    files: int = 0
    steps: int = 0
    refused: bool = False


_counts: weakref.WeakKeyDictionary[Loader, _Count] = weakref.WeakKeyDictionary()


def _over(ld: Loader, pos: Pos, upath: str, message: str) -> None:
    """Refuse an include past a bound; only the first refusal is reported."""
    count = _counts[ld]
    if not count.refused:
        count.refused = True
        ld.add(pos, upath, message, _HINT)


def include(ld: Loader, d: Draft, pos: Pos, with_node: Map, file: str,
            chain: tuple[str, ...]) -> None:
    """Inline the steps of the workflow file ``d.uses`` into ``d.inner``.

    ``file`` is the including file and ``chain`` the files including it, so a
    cycle is refused; problems go to ``ld.add``.
    """
    upath = f"{d.path}.uses"
    if d.uses.startswith("pkg:"):
        try:
            target = find_workflow(d.uses)
        except NotFound as e:
            ld.add(pos, upath, e.message, e.hint)
            return
    else:
        target = os.path.normpath(os.path.join(os.path.dirname(file), d.uses))
    real = os.path.abspath(target)
    if real in chain:
        names = " -> ".join(os.path.basename(c) for c in (*chain, real))
        ld.add(pos, upath, f"a workflow cannot include itself ({names})")
        return
    if len(chain) > MAX_INCLUDES:
        ld.add(pos, upath, f"workflow files nested more than {MAX_INCLUDES} deep")
        return
    if not os.path.isfile(target):
        ld.add(pos, upath, f"no workflow file '{d.uses}'",
               f"looked for {target} (relative to the including file)")
        return
    count = _counts.setdefault(ld, _Count())
    if count.refused or count.files >= MAX_INLINED_FILES:
        _over(ld, pos, upath, f"'{d.uses}' would make this workflow read more than "
              f"{MAX_INLINED_FILES} workflow files to inline; refused")
        return
    count.files += 1
    given = {k.value: v for k, v in with_node.items()}
    inner = ld.load(target, None, given, (*chain, real))
    if inner is None:
        return
    count.steps += len(inner.steps)
    if count.steps > MAX_INLINED_STEPS:
        _over(ld, pos, upath, f"'{d.uses}' would inline more than {MAX_INLINED_STEPS} "
              "steps in all; refused")
        return
    for key in with_node.keys:
        if key.value not in inner.params:
            ld.add(key.pos, f"{d.path}.with", f"unknown param '{key.value}' of "
                   f"{d.uses}{did_you_mean(key.value, inner.params)}")
    inner_inputs = set(inner.input_names)
    prefix = d.id + "."
    d.inner = []
    for s in inner.steps:
        srcs = [UPSTREAM if n in inner_inputs else prefix + n for n in s.sources or ()]
        d.inner.append(replace(s, id=prefix + s.id, sources=srcs))


def flatten(drafts: list[Draft]) -> list[Draft]:
    """Includes replaced by their steps; ``from: <include id>`` -> its last step."""
    last = {d.id: d.inner[-1].id for d in drafts if d.inner}
    out: list[Draft] = []
    for d in drafts:
        ups = [last.get(n, n) for n in d.sources or ()]
        if d.inner is None:
            out.append(replace(d, sources=ups))
            continue
        for s in d.inner:
            srcs = [u for n in s.sources or () for u in (ups if n == UPSTREAM else [n])]
            out.append(replace(s, sources=srcs, settings=merge_settings(s.settings, d.settings)))
    return out


def merge_settings(own: dict[str, Any], fallback: dict[str, Any]) -> dict[str, Any]:
    """``own`` settings, missing ones from ``fallback``; ``parallel`` merged key by key."""
    out = {**fallback, **own}
    if "parallel" in own and "parallel" in fallback:
        out["parallel"] = {**fallback["parallel"], **own["parallel"]}
    return out
