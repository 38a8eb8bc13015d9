"""Where a Dask worker is: one memory-mapped record per task, in a folder of flow's machine.

The Dask executor's counterpart of :mod:`runner.execute.local.slots`. A worker that can
open the task's file (:class:`FileTracker`) says with plain stores which item it
is on and since when; flow reads the files (:func:`read`) to name the item a dead
worker held and to end an item past its timeout. Only workers on
flow's machine, in its pid namespace, are tracked (:func:`machine`): their pids
and ``time.monotonic()`` mean the same as flow's.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import shutil
import signal
import struct
import tempfile
import time

from runner.procs import pid_alive

# A task's record: the worker's pid, time.monotonic() when the current item began
# (0.0 once the task returned), that item's offset (-1: none yet).
_RECORD = struct.Struct("=qdq")
Record = tuple[int, float, int]
DIR_PREFIX = "flow-dask-"  # + flow's pid: the folder of tracking files, in the temp folder


class DiedBefore(Exception):
    """This task began before on a worker that died: a scheduler's retry, refused."""


class FileTracker:
    """A worker's Tracker (see runner.execute.chain): plain stores into the task's record."""

    def __init__(self, path: str) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            # A scheduler reruns a task whose worker died (its allowed-failures); flow
            # has lost it already, and it must not kill another worker.
            if (rec := read(path)) is not None and rec[1]:
                raise DiedBefore(f"worker {rec[0]} died running this task")
            os.ftruncate(fd, _RECORD.size)
            self._mm = mmap.mmap(fd, _RECORD.size)
        finally:
            os.close(fd)
        _RECORD.pack_into(self._mm, 0, os.getpid(), time.monotonic(), -1)

    def begin(self, task_id: int, offset: int) -> None:
        """Item ``offset`` starts now."""
        # The start time first: a reader that sees the new offset sees its new start too.
        struct.pack_into("=d", self._mm, 8, time.monotonic())
        struct.pack_into("=q", self._mm, 16, offset)

    def done(self, count: int) -> None:
        """Items finished: nothing to write (only the item a worker is on matters)."""

    def returned(self) -> None:
        """The task returned: no item is running (its result is being sent back)."""
        struct.pack_into("=d", self._mm, 8, 0.0)  # what follows is no item's time
        self._mm.close()


def read(path: str | None) -> Record | None:
    """A task's tracking record, or None (untracked, or it never began)."""
    if not path:
        return None
    try:
        with open(path, "rb") as fh:
            data = fh.read(_RECORD.size)
    except OSError:
        return None
    return _RECORD.unpack(data) if len(data) == _RECORD.size else None


def offset_of(rec: Record | None) -> int | None:
    """The offset of the item a record says its task is on, None if not known."""
    return rec[2] if rec is not None and rec[2] >= 0 else None


def kill(pid: int) -> None:
    """SIGKILL ``pid`` if it is still there."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def machine(track_dir: str) -> tuple[bool, str, str]:
    """Whether this process sees ``track_dir``, its host and its pid namespace. Workers that
    match flow's share its pids and monotonic clock: tracking them is sound."""
    import socket

    try:
        ns = os.readlink("/proc/self/ns/pid")
    except OSError:
        ns = ""
    return os.path.isdir(track_dir), socket.gethostname(), ns


def sweep() -> None:
    """Remove tracking folders that killed flow processes left behind."""
    base = tempfile.gettempdir()
    with contextlib.suppress(OSError):
        for name in os.listdir(base):
            pid = name[len(DIR_PREFIX):].split("-")[0]
            if name.startswith(DIR_PREFIX) and pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(os.path.join(base, name), ignore_errors=True)
