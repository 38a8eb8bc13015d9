"""The watcher in each Dask nanny: dead workers and timeouts, on the worker's own host.

Dask cannot say which item a dead worker was on, nor stop a running thread. The nanny
can do both for flow: it lives on the worker's host, outlives the worker, and does not
share its GIL (a step stuck in C code cannot stop it). Flow registers :class:`Watch` as
a nanny plugin; on every nanny, present or joining later, a thread reads the task
records (:mod:`runner.execute.dask.records`) of that nanny's worker every
:data:`EVERY` seconds and

- past an item's timeout, tells flow ``timeout`` and SIGKILLs the worker process, which
  its nanny starts again at once (Dask's own restart waits for the stuck thread);
- when the worker process is gone, tells each flow run ``died``, with the tasks of that
  run it held and the item each was on.

News travels as Dask events on the run's topic (``Nanny.log_event``, a few per
failure, none per item). Without a nanny (``dask worker --no-nanny``) nobody watches:
a dead worker's item is found by running its task again item by item, and timeouts are
not enforced.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import Any

from distributed.diagnostics.plugin import NannyPlugin

from runner.execute.dask import records
from runner.procs import pid_alive

NAME = "flow-watch-1"  # one per nanny, whichever flow run registered it first
EVERY = 0.1  # seconds between looks at the records
SWEEP_EVERY = 600.0  # seconds between sweeps of run folders that killed flows left


def topic(run: str) -> str:
    """The Dask event topic of one flow run's news."""
    return f"flow-{run}"


class Watch(NannyPlugin):
    """The nanny plugin; see the module docstring. ``idempotent``: registering it again
    (each flow run does) keeps the one already there."""

    idempotent = True

    def setup(self, nanny: Any) -> None:
        """Start watching this nanny's worker."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(nanny,), daemon=True,
                                        name="flow-watch")
        self._thread.start()

    def teardown(self, nanny: Any) -> None:
        """Stop watching (the nanny closes, or the plugin is removed)."""
        self._stop.set()

    def _watch(self, nanny: Any) -> None:
        workers: dict[int, str] = {}  # pid -> address of every live worker this nanny ran
        told: set[str] = set()  # records already reported
        ended: set[int] = set()  # workers this watcher ended for a timeout
        swept = 0.0
        while not self._stop.wait(EVERY):
            with contextlib.suppress(Exception):  # one bad look must not end the watch
                pid = nanny.pid
                if pid and pid_alive(pid):  # its address is known once it has connected
                    workers[pid] = nanny.worker_address or workers.get(pid, "")
                if time.monotonic() - swept > SWEEP_EVERY:
                    swept = time.monotonic()
                    records.sweep()
                look(nanny, workers, told, ended)


def look(nanny: Any, workers: dict[int, str], told: set[str], ended: set[int]) -> None:
    """One look at the records of ``workers``' tasks: end timeouts, report deaths.

    A death is reported to every run with a folder on this host, with the tasks of that
    run the worker held (maybe none): flow then knows that its other tasks that were
    waiting on that worker never began, and sends them again. The tasks that other
    threads of a worker ended for a timeout were running are innocent: sent again too.
    """
    base = records.base_dir()
    try:
        runs = os.listdir(base)
    except OSError:
        runs = []
    dead = {pid: addr for pid, addr in workers.items() if not pid_alive(pid)}
    for run in runs:
        folder = os.path.join(base, run)
        try:
            keys = os.listdir(folder)
        except OSError:
            continue
        lost: dict[int, list[list[Any]]] = {pid: [] for pid in dead}
        again: dict[int, list[list[Any]]] = {pid: [] for pid in dead}
        for key in keys:
            path = os.path.join(folder, key)
            rec = records.read(path)
            if rec is None or rec.pid not in workers or path in told:
                continue
            if rec.pid in dead:
                told.add(path)
                (again if rec.pid in ended else lost)[rec.pid].append(
                    [key, rec.task, rec.item()])
            elif rec.limit and rec.began and time.monotonic() - rec.began > rec.limit \
                    and records.read(path) == rec:  # the same item still: not a new one
                told.add(path)
                _tell(nanny, run, {"why": "timeout", "worker": workers[rec.pid],
                                   "lost": [[key, rec.task, rec.item()]], "limit": rec.limit})
                ended.add(rec.pid)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(rec.pid, signal.SIGKILL)  # its nanny starts a new worker
        for pid in dead:
            _tell(nanny, run, {"why": "died", "worker": dead[pid], "lost": lost[pid],
                               "again": again[pid]})
    for pid in dead:
        del workers[pid]
        ended.discard(pid)


def _tell(nanny: Any, run: str, msg: dict[str, Any]) -> None:
    """Send ``msg`` on the run's topic, from the nanny's event loop; a nanny on its way out
    (its cluster closing) says nothing."""
    if getattr(getattr(nanny, "status", None), "name", "running") == "running":
        nanny.loop.add_callback(_send, nanny, topic(run), msg)


async def _send(nanny: Any, name: str, msg: dict[str, Any]) -> None:
    with contextlib.suppress(Exception):  # the scheduler may be gone: nobody is listening
        await nanny.scheduler.log_event(topic=name, msg=msg)


def end_run(run: str, dask_worker: Any = None) -> list[int]:
    """Run in each nanny by flow's cancel: SIGKILL this nanny's worker if it is running a
    task of ``run`` (its nanny starts a new one). Returns the pids it ended."""
    nanny = dask_worker
    pid = getattr(nanny, "pid", None)
    folder = records.run_dir(run)
    try:
        keys = os.listdir(folder)
    except OSError:
        return []
    for key in keys:
        rec = records.read(os.path.join(folder, key))
        if pid and rec is not None and rec.pid == pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            return [pid]
    return []
