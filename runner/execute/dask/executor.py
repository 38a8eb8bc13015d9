"""The Dask executor: tasks on a ``dask.distributed`` cluster (SPEC section 5).

With an address flow connects to that scheduler; without, it starts a LocalCluster
of worker processes on 127.0.0.1 and ends it after the run. A task travels pickled
(one that cannot be pickled fails here, at once); a worker runs it with
:func:`runner.execute.chain.run_task` and sends back the result pickled by
:func:`runner.execute.local.worker.pack`, so a value that cannot travel fails its item.
Completions come through future callbacks into a queue that ``poll`` drains.

Dask cannot say which item a dead worker was on, nor stop a running thread. So a
worker writes where it is into a small memory-mapped file per task (a store per
item) in a folder of this machine; a monitor thread reads them to name the item a
dead worker held, and SIGKILLs a worker past its chain's timeout (its nanny starts
a new one). Workers on other machines cannot see that folder: there a dead
worker's task is lost without its item, and timeouts are not enforced.

dask is imported only when an executor starts: without it, a FlowError, not a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from runner.errors import FlowError
from runner.execute.base import (
    Completion,
    Completions,
    Done,
    Executor,
    ExecutorOptions,
    Lost,
    Task,
)
from runner.execute.chain import reason_of
from runner.execute.dask import filetrack
from runner.execute.wire import fail_all, unpack
from runner.procs import ctrl_c_held, pid_alive

__all__ = ["DaskExecutor", "run_on_worker"]

MONITOR_EVERY = 0.05  # seconds between the monitor's looks at the tracking files
THREADS_EVERY = 1.0  # seconds between asking the scheduler how many threads its workers have
MAX_REQUEUE = 3  # resends of a task lost through no fault of its own (see _on_done)
NEEDS_DASK = 'the dask executor needs dask: pip install "flow[dask]"'


def run_on_worker(payload: bytes, track: str | None, paths: tuple[str, ...]) -> bytes:
    """What a Dask worker runs: the pickled task in, the pickled TaskResult out.

    ``paths`` (the workflow's folder, for ``py:`` steps) go on ``sys.path`` here, per task,
    so that workers which join later or replace dead ones have them too.
    """
    import sys

    from runner.execute.chain import run_task
    from runner.execute.wire import Unreadable, pack

    sys.path[:0] = [p for p in paths if p not in sys.path]
    tracker: filetrack.FileTracker | None = None
    if track:
        with contextlib.suppress(OSError, ValueError):  # before unpickling: a task that
            tracker = filetrack.FileTracker(track)  # kills its reader is tracked too
            # DiedBefore goes up: the one error left to reach Dask, on purpose
    try:
        task = pickle.loads(payload)
    except BaseException as exc:  # noqa: BLE001
        return pickle.dumps(Unreadable(reason_of(exc)))
    result = run_task(task, tracker)
    if tracker is not None:
        tracker.returned()
    return pack(result, task)


@dataclass(frozen=True)
class _Job:
    task: Task
    future: Any  # distributed.Future
    track: str | None  # its tracking file, when workers are on this machine
    requeued: int = 0


class DaskExecutor(Executor):
    """Runs tasks on a Dask cluster (see the module docstring); ``address`` None: on a
    LocalCluster of ``options.workers`` single-thread processes on 127.0.0.1."""

    def __init__(self, address: str | None = None) -> None:
        self.address = address
        self._client: Any = None
        self._cluster: Any = None
        self._out = Completions()
        self._lock = threading.Lock()  # guards _pending
        self._pending: dict[str, _Job] = {}
        self._paths: tuple[str, ...] = ()
        self._track_dir = ""  # set when every worker sees it, shares our pids and clock
        self._stop = threading.Event()
        self._closed = False
        self._workers = 1  # what flow asked for: the capacity when the cluster says nothing
        self._threads = 0  # the cluster's worker threads, as its scheduler last reported them
        self.startup_seconds = 0.0  # how long start() took (cluster and connection)

    # -- life --------------------------------------------------------------------------------
    def start(self, options: ExecutorOptions) -> None:
        """Connect to ``address`` or start a local cluster; a FlowError if that fails."""
        t0 = time.perf_counter()
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:
            raise FlowError.single(NEEDS_DASK, file="command line") from None
        # A dead worker fails its task at once (flow retries by its own rules), and a
        # worker holds only the task it runs, so its death takes no queued task along.
        conf = {"distributed.scheduler.allowed-failures": 0,
                "distributed.scheduler.worker-saturation": 1.0}
        self._paths = tuple(options.extra_paths)
        self._workers = max(1, options.workers)
        try:
            with dask.config.set(conf), ctrl_c_held():  # no Ctrl-C mid-import in its processes
                if self.address is None:
                    mem = f"{options.worker_memory_mb}MiB" if options.worker_memory_mb else "auto"
                    self._cluster = LocalCluster(
                        n_workers=max(1, options.workers), threads_per_worker=1,
                        processes=True, dashboard_address=None, host="127.0.0.1",
                        memory_limit=mem, silence_logs=logging.CRITICAL)
                    self._client = Client(self._cluster)
                else:
                    self._client = Client(self.address, timeout="10s")
            filetrack.sweep()
            track_dir = tempfile.mkdtemp(prefix=f"{filetrack.DIR_PREFIX}{os.getpid()}-")
            self._track_dir = track_dir  # removed by _shutdown in any case
            here = filetrack.machine(track_dir)  # workers lacking flow fail here, clearly
            if any(v != here for v in self._client.run(filetrack.machine, track_dir).values()):
                self._track_dir = ""
                shutil.rmtree(track_dir, ignore_errors=True)
            with contextlib.suppress(Exception):  # not known: the fallback of capacity()
                self._count_threads()
        except Exception as exc:  # noqa: BLE001 - the user's address, or this machine
            self._shutdown()
            where = f"the Dask scheduler at {self.address}" if self.address else \
                "a local Dask cluster"
            raise FlowError.single(f"cannot use {where}: {reason_of(exc)}",
                                   file="command line") from None
        threading.Thread(target=self._watch, name="flow-dask-monitor", daemon=True).start()
        self.startup_seconds = time.perf_counter() - t0

    def capacity(self) -> int:
        """Two tasks per worker thread the scheduler reports (one running, one waiting);
        before any worker has joined, or if the scheduler cannot say, two per worker asked for."""
        return 2 * (self._threads or self._workers)

    def _count_threads(self) -> None:
        client = self._client
        if client is not None:
            self._threads = sum(client.nthreads().values())

    def submit(self, task: Task) -> None:
        """Send ``task`` to the cluster; returns at once."""
        self._send(task, 0)

    def _send(self, task: Task, requeued: int) -> None:
        if self._client is None or self._closed:
            raise RuntimeError("DaskExecutor is not running")
        try:  # here: a task that does not pickle fails at once, not in Dask's loop
            payload = pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - anything a value's __reduce__ may raise
            self._out.put(Done(task, fail_all(
                task, f"task could not be passed to a worker: {reason_of(exc)}")))
            return
        key = f"flow-{task.stage}-{task.task_id}-{uuid.uuid4().hex[:8]}"
        track = os.path.join(self._track_dir, key) if self._track_dir else None
        with self._lock:
            future = self._client.submit(run_on_worker, payload, track, self._paths, key=key,
                                         pure=False)
            self._pending[key] = _Job(task, future, track, requeued)
        future.add_done_callback(self._on_done)

    def poll(self, timeout: float) -> list[Completion]:
        """Completions since the last call, waiting up to ``timeout`` s for the first."""
        return self._out.take(timeout)

    def cancel(self) -> None:
        """Stop now: tasks in flight are abandoned (never reported), their workers killed."""
        self._closed = True
        self._stop.set()
        with self._lock:
            jobs = list(self._pending.values())
            self._pending.clear()
        self._out.clear()
        for job in jobs:  # a running thread cannot be stopped: end its process (this machine)
            rec = filetrack.read(job.track)
            if rec is not None and rec[1]:
                filetrack.kill(rec[0])
        with contextlib.suppress(Exception):  # the cluster may be gone already
            if jobs and self._client is not None:
                self._client.cancel([j.future for j in jobs], force=True)
        self._shutdown()

    def close(self) -> None:
        """End the local cluster (or disconnect); with tasks still pending, a cancel()."""
        with self._lock:
            busy = bool(self._pending)
        if busy and not self._closed:
            self.cancel()
            return
        self._closed = True
        self._stop.set()
        self._shutdown()

    def _shutdown(self) -> None:
        client, cluster, self._client, self._cluster = self._client, self._cluster, None, None
        for thing in (client, cluster):
            with contextlib.suppress(Exception):  # closing must never fail the run
                if thing is not None:
                    thing.close(timeout=5)
        if self._track_dir:
            shutil.rmtree(self._track_dir, ignore_errors=True)
            self._track_dir = ""

    # -- completions (on Dask's callback thread: must never raise) -----------------------------
    def _claim(self, key: str) -> _Job | None:
        with self._lock:
            return self._pending.pop(key, None)

    def _on_done(self, future: Any) -> None:
        job = None
        try:
            job = self._claim(future.key)
            if job is None:
                return  # lost already (the monitor saw it die or time out), or cancelled
            try:
                if future.status == "finished":
                    self._out.put(Done(job.task, unpack(future.result(), job.task)))
                    return
                exc = future.exception() if future.status == "error" else None
            except BaseException as err:  # noqa: BLE001 - e.g. the result's holder died
                exc = err
            rec = filetrack.read(job.track)
            innocent = job.track and (rec is None or not rec[1])  # never begun, or returned
            if innocent and job.requeued < MAX_REQUEUE and not self._closed:
                # It went down with a worker that another task killed (queued there, or
                # its result still there): not its fault, run it again.
                self._send(job.task, job.requeued + 1)
                return
            name = type(exc).__name__ if exc is not None else "cancelled"
            reason = "worker died" if name in ("KilledWorker", "DiedBefore") else \
                f"lost on the Dask cluster: {reason_of(exc) if exc is not None else name}"
            self._out.put(Lost(job.task, filetrack.offset_of(rec), reason))
        except BaseException:  # noqa: BLE001
            pass
        finally:
            if job is not None and job.track:
                with contextlib.suppress(OSError):
                    os.unlink(job.track)

    # -- the monitor: dead workers and timeouts, on this machine ----------------------------------
    def _watch(self) -> None:
        asked = time.monotonic()
        while not self._stop.wait(MONITOR_EVERY):
            now = time.monotonic()
            with contextlib.suppress(Exception):  # one bad look must not end the watch
                self._look(now)
            if now - asked >= THREADS_EVERY:  # workers come and go: capacity follows them
                asked = now
                with contextlib.suppress(Exception):  # keep the last count
                    self._count_threads()

    def _look(self, now: float) -> None:
        with self._lock:
            jobs = list(self._pending.values())
        for job in jobs:
            rec = filetrack.read(job.track)
            if rec is None or not rec[1]:
                continue  # untracked, not begun yet, or returned
            limit, where = job.task.chain.timeout, filetrack.offset_of(rec)
            if not pid_alive(rec[0]):
                # Sooner than the scheduler's word, and a remote scheduler's allowed-failures
                # (which we do not set) could otherwise rerun it on, and kill, another worker.
                self._drop(job, Lost(job.task, where, "worker died"))
            elif limit and now - rec[1] > limit and filetrack.read(job.track) == rec:
                # Dask cannot stop a running thread: end the worker's process instead.
                if self._drop(job, Lost(job.task, where, f"timed out after {limit:g} s",
                                        timed_out=True)):
                    filetrack.kill(rec[0])

    def _drop(self, job: _Job, lost: Lost) -> bool:
        """Report ``lost`` unless the task came back meanwhile; cancel its future."""
        if self._claim(job.future.key) is None:
            return False
        self._out.put(lost)
        # Cancelled before its worker is killed, so the scheduler does not run it elsewhere.
        with contextlib.suppress(Exception):
            self._client.cancel([job.future], force=True)
        return True
