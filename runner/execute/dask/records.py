"""Where a Dask task is: one small record per task, on the host of the worker that runs it.

The Dask executor's counterpart of :mod:`runner.execute.local.slots`. A worker keeps,
for each flow task it runs, a memory-mapped record in a folder of its own host's
temporary directory (``<tmp>/flow-dask/<run>/<key>``): its pid, which item it is on
and since when (``time.monotonic()``, one clock for every process of a host), and the
chain's timeout. Writing it is two plain stores per item, nothing crosses the network.

Only processes of that host read it: the watcher in the worker's nanny
(:mod:`runner.execute.dask.watch`) ends the worker past a timeout and tells flow which
item a dead worker held. A record outlives its worker (it is unlinked when the task
returns), so a scheduler's rerun of a task whose worker died is refused on that host
(:class:`DiedBefore`); a marker on the storage every worker shares refuses it on other
hosts too.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

# pid of the worker; the flow task it runs (-1: none yet); time.monotonic() when the
# current item began (0.0: none yet); that item's offset (-1: none yet); the task's
# chain's timeout in seconds (0.0: none). A submission may hold several flow tasks.
_RECORD = struct.Struct("=qqdqd")
BASE = "flow-dask"  # the folder of every flow run's records, in each host's temp folder
STALE_SECONDS = 24 * 3600  # a run folder untouched this long was left by a killed flow
MARKS = "dask-began"  # the folder of began-markers in a run's scratch folder


class DiedBefore(Exception):
    """This task began before on a worker that died: a scheduler's rerun, refused."""


class Cancelled(Exception):
    """Flow cancelled this task while it ran: it stops before its next item."""


@dataclass(frozen=True)
class Record:
    """What a task's record says."""

    pid: int
    task: int  # the flow task's id, -1: none begun yet
    began: float  # time.monotonic() of this host when the current item began; 0.0: none yet
    offset: int  # the current item's offset, -1: none yet
    limit: float  # the chain's timeout, 0.0: none

    def item(self) -> int | None:
        """The offset of the item the task is on, None if it has not begun one."""
        return self.offset if self.offset >= 0 else None


def base_dir() -> str:
    """This host's folder of flow's task records (in this process's temp folder)."""
    return os.path.join(tempfile.gettempdir(), BASE)


def run_dir(run: str) -> str:
    """The folder of one flow run's records on this host."""
    return os.path.join(base_dir(), run)


class TaskRecord:
    """A worker's Tracker (see runner.execute.chain) writing the task's record.

    Made when the task starts on the worker; raises :class:`DiedBefore` when a record of
    the same task is already there (it began on this host before and its worker died),
    or when ``marker`` (a file on shared storage, or None) says it began on another host.
    """

    def __init__(self, run: str, key: str, marker: str | None,
                 wanted: Callable[[], bool] | None = None) -> None:
        self._wanted = wanted  # False once flow has cancelled the task
        folder = run_dir(run)
        os.makedirs(folder, exist_ok=True)
        self.path = os.path.join(folder, key)
        self.marker = marker
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise DiedBefore(f"task {key} began before on this host and its worker died") \
                from None
        try:
            os.ftruncate(fd, _RECORD.size)
            self._mm = mmap.mmap(fd, _RECORD.size)
        finally:
            os.close(fd)
        _RECORD.pack_into(self._mm, 0, os.getpid(), -1, 0.0, -1, 0.0)
        if marker is not None:
            try:
                os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                self.marker = None  # not ours: the record of the first attempt keeps it
                self.returned()
                raise DiedBefore(f"task {key} began before on another worker, "
                                 "which died") from None
            except OSError:
                self.marker = None  # no shared storage after all: this host's check only

    def start(self, task_id: int, limit: float | None) -> None:
        """Flow task ``task_id`` starts (no item yet); ``limit``: its chain's timeout."""
        # No item first, then the task: a reader never pairs this task with an old item.
        struct.pack_into("=d", self._mm, 16, 0.0)
        struct.pack_into("=q", self._mm, 24, -1)
        struct.pack_into("=q", self._mm, 8, task_id)
        struct.pack_into("=d", self._mm, 32, float(limit or 0.0))

    def begin(self, task_id: int, offset: int) -> None:
        """Item ``offset`` starts now (or :class:`Cancelled`: the task is no longer wanted)."""
        if self._wanted is not None and not self._wanted():
            raise Cancelled(task_id)
        # The start time first: a reader that sees the new offset sees its new start too.
        struct.pack_into("=d", self._mm, 16, time.monotonic())
        struct.pack_into("=q", self._mm, 24, offset)

    def done(self, count: int) -> None:
        """Items finished: nothing to write (only the item a worker is on matters)."""

    def returned(self) -> None:
        """The task returned: its record and marker go (a rerun of it is innocent)."""
        self._mm.close()
        for path in (self.path, self.marker):
            if path:
                with contextlib.suppress(OSError):
                    os.unlink(path)


def read(path: str) -> Record | None:
    """A task's record, or None (gone, or not written yet)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(_RECORD.size)
    except OSError:
        return None
    return Record(*_RECORD.unpack(data)) if len(data) == _RECORD.size else None


def forget(run: str) -> None:
    """Remove one run's records on this host (flow's run ended)."""
    shutil.rmtree(run_dir(run), ignore_errors=True)


def sweep(now: float | None = None) -> None:
    """Remove run folders nobody touched for a day: left by a flow that was killed."""
    base = base_dir()
    now = time.time() if now is None else now
    with contextlib.suppress(OSError):
        for name in os.listdir(base):
            path = os.path.join(base, name)
            with contextlib.suppress(OSError):
                if now - os.stat(path).st_mtime > STALE_SECONDS:
                    shutil.rmtree(path, ignore_errors=True)


def marks_dir(scratch: str | None) -> str | None:
    """The folder of began-markers on storage every worker sees, made now; None if none."""
    if not scratch:
        return None
    path = os.path.join(scratch, MARKS)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None
    return path
