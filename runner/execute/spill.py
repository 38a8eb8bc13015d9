"""Big values travel between stages on disk, not through flow's own memory.

A value one stage gives a later one goes back to flow's process, which keeps it
until that stage runs. One bigger than :data:`LARGE` bytes (bytes, text, or
anything that says its ``nbytes``: an array) is pickled into the run's spill
folder by the worker instead, and flow keeps a small :class:`Spilled` note of
where; the worker that runs the later stage reads it back (:func:`restore`). The
folder goes with the run. Images have their own spill format (the image steps'
``ValueKind``); this is for every other value.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from typing import Any

from steps.atomic import atomic_file

LARGE = 16 * 1024 * 1024  # bytes: past this a value waits on disk
SUFFIX = ".flowvalue"


@dataclass(frozen=True)
class Spilled:
    """Where a big value waits (a pickle in the spill folder), and its size."""

    path: str
    size: int

    def __repr__(self) -> str:  # how the item is named in messages
        return f"<a value of {self.size / (1024 * 1024):.0f} MiB>"


def size_of(value: Any) -> int:
    """The bytes a value holds, for the kinds whose size is known at once; else 0."""
    if isinstance(value, (bytes, bytearray, str)):
        return len(value)
    if isinstance(value, memoryview):
        return value.nbytes
    nbytes = getattr(value, "nbytes", None)  # numpy arrays and their kin
    return nbytes if isinstance(nbytes, int) else 0


def spill(value: Any, folder: str) -> Any:
    """``value``, or a :class:`Spilled` note of the file it now waits in if it is big."""
    size = size_of(value)
    if size <= LARGE:
        return value
    path = os.path.join(folder, f"{os.getpid()}-{os.urandom(8).hex()}{SUFFIX}")
    # No fsync: scratch for this run only, removed at its end.
    with atomic_file(path, "wb", sync=False) as fh:
        pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return Spilled(path, size)


def restore(value: Any) -> Any:
    """The value a :class:`Spilled` note stands for (read back); anything else as is."""
    if type(value) is not Spilled:
        return value
    with open(value.path, "rb") as fh:
        return pickle.load(fh)
