"""``uses: pkg:teamsteps/thumbs.yaml``: a workflow file shipped inside an installed step package.

A step package is an installed distribution that declares entry points in the
``flow.steps`` group. ``pkg:NAME/PATH`` names one by its distribution name
(``team-steps``, ``team_steps`` alike) or by the top-level package of one of its
entry points (``teamsteps``), and ``PATH`` a file inside that package's folder
(package data). Nothing of the package is imported: its folder is found with
:func:`importlib.util.find_spec`, which runs no code for a top-level name, so
``flow validate`` still runs no code.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath

from runner.errors import did_you_mean
from steps.registry import ENTRY_POINT_GROUP

_FORM = re.compile(r"pkg:([A-Za-z0-9][A-Za-z0-9._-]*)/(.+\.ya?ml)")


class NotFound(Exception):
    """Why a ``pkg:`` workflow could not be found: a message and a hint."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def find_workflow(uses: str) -> str:
    """The path of the workflow file ``uses`` (``pkg:NAME/PATH``) names; NotFound if none."""
    m = _FORM.fullmatch(uses)
    if not m:
        raise NotFound(f"'{uses}' is not of the form pkg:package/file.yaml")
    name, rel = m.groups()
    if rel.startswith("/") or ".." in PurePosixPath(rel).parts:
        raise NotFound(f"'{rel}' leaves its package: a pkg: path is a file inside the package")
    packages = step_packages()
    tops = [top for dist, mods in packages.items() for top in mods
            if _norm(dist) == _norm(name) or top == name]
    if not tops:
        installed = sorted(packages)
        raise NotFound(f"no installed step package '{name}'{did_you_mean(name, installed)}",
                       "a pkg: workflow lives in an installed package that declares "
                       f"'{ENTRY_POINT_GROUP}' entry points; "
                       + ("installed: " + ", ".join(installed) if installed
                          else "none is installed here"))
    tops.sort(key=lambda t: t != name)  # the package named as written, first
    searched: list[str] = []
    for top in dict.fromkeys(tops):
        folder = package_folder(top)
        if folder is None:
            continue
        path = os.path.join(folder, *PurePosixPath(rel).parts)
        if os.path.isfile(path):
            return path
        searched.append(folder)
    shipped = [f for folder in searched for f in _yaml_files(folder)]
    raise NotFound(f"step package '{name}' has no workflow file '{rel}'"
                   f"{did_you_mean(rel, shipped)}",
                   f"looked in {', '.join(searched) or 'no importable package folder'}"
                   + (f"; it ships {', '.join(shipped)}" if shipped else
                      "; workflow files must be installed as package data"))


def step_packages() -> dict[str, list[str]]:
    """Installed distributions with ``flow.steps`` entry points -> their entry modules' tops."""
    from importlib.metadata import entry_points

    out: dict[str, list[str]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        top = ep.value.split(":")[0].split(".")[0].strip()
        mods = out.setdefault(dist.name if dist is not None else top, [])
        if top not in mods:
            mods.append(top)
    return out


def package_folder(top: str) -> str | None:
    """The folder of the top-level package ``top``, found without importing it."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None  # a single module has no folder of its own to ship files in
    return list(spec.submodule_search_locations)[0]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _yaml_files(folder: str) -> list[str]:
    """Workflow files under ``folder`` (package-relative, sorted, at most 50), for the hint."""
    found = []
    for here, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith((".", "__"))]
        found += [os.path.relpath(os.path.join(here, f), folder).replace(os.sep, "/")
                  for f in files if f.endswith((".yaml", ".yml"))]
    return sorted(found)[:50]
