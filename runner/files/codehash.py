"""The code behind a step, as a digest of its module's source, found without importing it.

A ``py:`` step or a plugin's step is the function's module: editing that file
reruns the steps that use it, and only those. The file is found the way the
importer would find it (the workflow's folder first, then ``sys.path``; flow's
own ``runner`` and ``steps`` packages are never shadowed), but nothing is
imported, so a plan or an explanation runs no user code. What the module
imports from elsewhere is not part of the digest: an edit there needs
``--force``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec, PathFinder

from runner.files.identity import digest, file_stat
from steps.registry import ref_module

OWN = ("runner", "steps")  # flow's packages: found where flow itself lives
FLOW_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_cache: dict[str, str] = {}


def module_spec(module: str, path: list[str] | None) -> ModuleSpec | None:
    """The spec of ``module`` on ``path`` (None: sys.path), found part by part as the
    importer would, without importing anything; None when it is not there."""
    parts = module.split(".")
    locations = path
    spec = None
    for i in range(len(parts)):
        if i and not locations:
            return None  # a module, not a package: it has no submodules
        try:
            spec = PathFinder.find_spec(".".join(parts[:i + 1]), locations)
        except (ImportError, OSError, ValueError):
            return None
        if spec is None:
            return None
        locations = list(spec.submodule_search_locations or [])
    return spec


def module_file(name: str, paths: Sequence[str] = ()) -> str | None:
    """The source file of module ``name``, or None when it cannot be found."""
    top = name.partition(".")[0]
    if top in OWN:
        search = [FLOW_ROOT]
    else:
        search = [*paths, *sys.path]
    spec = module_spec(name, search)
    if spec is None or not spec.has_location or not spec.origin:
        return None
    return spec.origin


def code_digest(ref: str, paths: Sequence[str] = ()) -> str:
    """A digest of the source of the module behind ``ref``: ``module:qualname``, or
    ``folder:module:qualname`` for a ``py:`` module of a workflow's folder."""
    folder, module = ref_module(ref)
    if folder is not None:
        paths = (folder,)  # found there, and only there, as the workers import it
    key = f"{module}\0{os.pathsep.join(paths)}"
    hit = _cache.get(key)
    if hit is None:
        path = module_file(module, paths)
        text = f"<no source for {module}>"
        if path and file_stat(path) is not None:  # a regular file: never a FIFO's hang
            try:
                with open(path, "rb") as fh:
                    text = fh.read().decode("latin-1")
            except OSError:
                pass
        hit = _cache[key] = digest(module, text)
    return hit
