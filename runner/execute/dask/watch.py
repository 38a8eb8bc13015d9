"""The watcher in each Dask nanny: dead workers and timeouts, on the worker's own host.

Dask cannot say which item a dead worker was on, nor stop a running thread. The nanny
can do both for flow: it lives on the worker's host, outlives the worker, and does not
share its GIL (a step stuck in C code cannot stop it). Each flow run registers its own
:class:`Watch` as a nanny plugin (named by :func:`name`, removed again when the run
ends); on every nanny, present or joining later, a thread reads that run's task records
(:mod:`runner.execute.dask.records`) of that nanny's worker every :data:`EVERY` seconds
and

- past an item's timeout, tells flow ``timeout`` and SIGKILLs the worker process, which
  its nanny starts again at once (Dask's own restart waits for the stuck thread);
- when the worker process is gone, tells the run ``died``, with the tasks of the run it
  held and the item each was on;
- while an item has been running :data:`SLOW_AFTER` seconds or more, tells the run
  ``running`` every :data:`RUNNING_EVERY` seconds, with those items and for how long
  (and once more, with none, when they are over): flow's live table names an item that
  runs far longer than its stage's typical one, on any host.

News travels as Dask events on the run's topic (``Nanny.log_event``, a few per
failure or slow item, none per ordinary item). Without a nanny (``dask worker
--no-nanny``) nobody watches: a dead worker's item is found by running its task again
item by item, timeouts are not enforced, and no slow item is named.
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

PREFIX = "flow-watch-"  # the names of flow's nanny plugins: the prefix and a run's id
EVERY = 0.1  # seconds between looks at the records
# An item running this long is reported as running (flow calls an item stalled after 2 s
# at the earliest), at most every RUNNING_EVERY seconds.
SLOW_AFTER = 1.0
RUNNING_EVERY = 1.0
SWEEP_EVERY = 600.0  # seconds between sweeps of run folders that killed flows left
ENDED_FOR = 60.0  # seconds a worker ended for a timeout stays known as such
# Worker pids that a watcher in this nanny process ended for a timeout, and when: the
# watchers of other runs then know that their tasks there died through no fault of theirs.
ENDED: dict[int, float] = {}


def name(run: str) -> str:
    """The name of one flow run's nanny plugin."""
    return PREFIX + run


def topic(run: str) -> str:
    """The Dask event topic of one flow run's news."""
    return f"flow-{run}"


class Watch(NannyPlugin):
    """The nanny plugin of flow run ``run``; see the module docstring."""

    def __init__(self, run: str) -> None:
        self.run = run

    def setup(self, nanny: Any) -> None:
        """Start watching this nanny's worker."""
        self._stop = threading.Event()
        # Its worker now, before the run sends a task: one that dies at its first item,
        # before the thread's first look, is still known and its death reported.
        workers = {nanny.pid: nanny.worker_address or ""} if nanny.pid else {}
        self._thread = threading.Thread(target=self._watch, args=(nanny, workers),
                                        daemon=True, name=name(self.run))
        self._thread.start()

    def teardown(self, nanny: Any) -> None:
        """Stop watching (the nanny closes, or the run is over and removed the plugin)."""
        self._stop.set()

    def _watch(self, nanny: Any, workers: dict[int, str]) -> None:
        # workers: pid -> address of every live worker this nanny ran
        told: set[str] = set()  # records already reported
        slow: list[float] = []  # when slow items were last reported (empty: none are)
        swept = 0.0
        while not self._stop.wait(EVERY):
            with contextlib.suppress(Exception):  # one bad look must not end the watch
                pid = nanny.pid
                if pid and pid_alive(pid):  # its address is known once it has connected
                    workers[pid] = nanny.worker_address or workers.get(pid, "")
                if time.monotonic() - swept > SWEEP_EVERY:
                    swept = time.monotonic()
                    records.sweep()
                look(nanny, self.run, workers, told, slow)


def look(nanny: Any, run: str, workers: dict[int, str], told: set[str],
         slow: list[float]) -> None:
    """One look at the records of ``run``'s tasks on ``workers``: end timeouts, report
    deaths and slow items (``slow``: when they were last reported).

    A death is reported with the tasks of the run the worker held (maybe none): flow then
    knows that its other tasks that were waiting on that worker never began, and sends
    them again. The tasks that other threads of a worker ended for a timeout were running
    are innocent: sent again too.
    """
    now = time.monotonic()
    for pid, when in list(ENDED.items()):
        if now - when > ENDED_FOR:
            ENDED.pop(pid, None)
    folder = records.run_dir(run)
    try:
        keys = os.listdir(folder)
    except OSError:
        keys = []
    dead = {pid: addr for pid, addr in workers.items() if not pid_alive(pid)}
    lost: dict[int, list[list[Any]]] = {pid: [] for pid in dead}
    again: dict[int, list[list[Any]]] = {pid: [] for pid in dead}
    running: list[list[Any]] = []
    for key in keys:
        path = os.path.join(folder, key)
        rec = records.read(path)
        if rec is None or rec.pid not in workers or path in told:
            continue
        if rec.pid in dead:
            told.add(path)
            (again if rec.pid in ENDED else lost)[rec.pid].append([key, rec.task, rec.item()])
        elif rec.limit and rec.began and time.monotonic() - rec.began > rec.limit \
                and records.read(path) == rec:  # the same item still: not a new one
            told.add(path)
            _tell(nanny, run, {"why": "timeout", "worker": workers[rec.pid],
                               "lost": [[key, rec.task, rec.item()]], "limit": rec.limit})
            ENDED[rec.pid] = time.monotonic()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(rec.pid, signal.SIGKILL)  # its nanny starts a new worker
        elif rec.began and now - rec.began >= SLOW_AFTER:
            running.append([key, rec.task, rec.item(), now - rec.began])
    for pid in dead:
        _tell(nanny, run, {"why": "died", "worker": dead[pid], "lost": lost[pid],
                           "again": again[pid]})
        del workers[pid]
    _tell_running(nanny, run, running, slow, now)


def _tell_running(nanny: Any, run: str, running: list[list[Any]], slow: list[float],
                  now: float) -> None:
    """Tell ``run`` of its slow items on this nanny's worker (at most every RUNNING_EVERY
    s), and once more, with none, when there are none left."""
    if running and (not slow or now - slow[0] >= RUNNING_EVERY):
        slow[:] = [now]
    elif not running and slow:
        slow.clear()
    else:
        return
    _tell(nanny, run, {"why": "running", "nanny": getattr(nanny, "address", ""),
                       "running": running})


def _tell(nanny: Any, run: str, msg: dict[str, Any]) -> None:
    """Send ``msg`` on the run's topic, from the nanny's event loop; a nanny on its way out
    (its cluster closing) says nothing."""
    if getattr(getattr(nanny, "status", None), "name", "running") == "running":
        nanny.loop.add_callback(_send, nanny, topic(run), msg)


async def _send(nanny: Any, where: str, msg: dict[str, Any]) -> None:
    with contextlib.suppress(Exception):  # the scheduler may be gone: nobody is listening
        await nanny.scheduler.log_event(topic=where, msg=msg)


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
