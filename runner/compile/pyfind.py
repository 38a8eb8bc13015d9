"""Where a ``py:`` module may come from, found without importing anything.

A workflow file is something people pass around, so ``uses: py:...`` reaches only
two kinds of module: one under the workflow's own folder (found by file there,
never through ``sys.path``, so a ``steps.py`` beside the workflow cannot shadow
flow's own packages nor be shadowed by them), and an installed step package (a
distribution that declares the ``flow.steps`` entry-point group). The standard
library and any other installed module are refused: ``py:os:system`` would run a
shell command. Finding a module here only lists folders; its code is not run.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from importlib.machinery import ModuleSpec

from runner.files.codehash import module_spec
from steps.registry import file_ref, step_package_roots

REACH = "py: reaches only modules in the workflow's folder and installed step packages"
HINT = ("a py: step runs that module's code: put the module in the workflow's folder, or "
        "install it as a step package (an entry point in the flow.steps group)")


class PyStepError(Exception):
    """A ``py:`` step that cannot be used; ``message`` and ``hint`` are for the user."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Found:
    """A module's Python source, and the ref prefix a worker imports it by."""

    module: str  # dotted name as written after py:
    source: str  # path of its .py file
    folder: str  # the workflow's folder, or "" for an installed step package
    is_package: bool

    def ref(self, qual: str) -> str:
        """The ref of ``qual`` in this module, for ``steps.registry.resolve_ref``."""
        return file_ref(self.folder, self.module, qual) if self.folder else f"{self.module}:{qual}"


def locate(module: str, folder: str) -> Found:
    """``module`` under ``folder`` or in an installed step package; PyStepError if neither."""
    spec = module_spec(module, [folder])
    if spec is not None:
        return _found(module, spec, folder)
    top = module.split(".")[0]
    if top in _package_roots():
        spec = module_spec(module, None)
        if spec is not None:
            return _found(module, spec, "")
    elif top in sys.stdlib_module_names or top in sys.builtin_module_names:
        raise PyStepError(f"'{module}' is in Python's standard library: {REACH}", HINT)
    elif module_spec(top, None) is not None:
        raise PyStepError(f"'{top}' is installed but is not a step package: {REACH}", HINT)
    raise PyStepError(f"no module named '{module}'",
                      f"looked in {folder} and the installed step packages")


@functools.cache
def _package_roots() -> frozenset[str]:
    return frozenset(step_package_roots())  # reading entry points costs ~20 ms: once


def _found(module: str, spec: ModuleSpec, folder: str) -> Found:
    origin = spec.origin
    if not origin or origin == "namespace" or not spec.has_location:
        raise PyStepError(f"'{module}' is a folder without an __init__.py, not a module")
    if not origin.endswith(".py"):
        raise PyStepError(f"'{module}' is compiled ({origin}): flow reads py: steps from "
                          "their Python source, so a check never runs them")
    return Found(module, origin, folder, spec.submodule_search_locations is not None)
