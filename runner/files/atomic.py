"""The sweep of temporary files that dead writers left beside flow's outputs.

Every file flow writes goes through the one atomic writer, :mod:`steps.atomic`
(it lives with the steps, which may not import the engine). A writer killed
mid-write leaves its hidden temporary file, ``.<name>.<pid>.<hex>.part``; the
engine removes those whose writer is gone (a zombie counts as gone, see
:mod:`runner.procs`), and leaves a live writer's alone: another run may be
writing it. The same goes for the spill folders of runs (``.flow/tmp/<pid>``):
a run removes its own at its end, and those of runs killed before that.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable

from runner.procs import pid_alive
from steps.atomic import writer_of


def sweep_temp(folders: Iterable[str]) -> int:
    """Delete the temporary files of dead writers in ``folders``; returns how many."""
    removed = 0
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if not name.endswith(".part"):  # most names: outputs, not a writer's leftover
                continue
            pid = writer_of(name)
            if pid is None or pid_alive(pid):
                continue
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, name))
                removed += 1
    return removed


def sweep_dead_spills(folder: str) -> int:
    """Delete the ``<pid>`` folders in ``folder`` whose run is gone; returns how many."""
    removed = 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    for name in names:
        if not name.isdigit() or pid_alive(int(name)):
            continue
        shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
        removed += 1
    return removed
