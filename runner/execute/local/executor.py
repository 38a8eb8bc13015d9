"""The local executor: tasks on a hardened ``multiprocessing.Pool`` of this machine.

Tasks go to the pool with ``apply_async``; completions come back through a
thread-safe queue that :meth:`LocalExecutor.poll` drains. What plain Pool gets
wrong, and where it is fixed:

- A worker killed mid-task (SIGKILL, the OOM killer, ``os._exit``) makes Pool
  wait for ever (CPython gh-66587); an item may hang. The monitor
  (:mod:`runner.execute.local.monitor`) reads which worker holds which task and item
  from a shared table (:mod:`runner.execute.local.slots`), reports the task
  :class:`Lost` at that item, and SIGKILLs a worker past its chain's timeout.
  The pool starts replacements itself.
- A worker killed while holding one of Pool's queue locks blocks every other
  worker, and ``terminate()``, for ever: the locks are ``flock`` locks that die
  with their holder (:mod:`runner.execute.local.pool`).
- Results travel pickled by the worker and are read back in our callback, so a
  value or exception that does not survive pickling fails its item instead of
  killing the pool's result thread (gh-79492); see :mod:`runner.execute.local.worker`.
- Workers ignore Ctrl-C, die with flow, are recycled and memory-capped.

Workers start from a fork server (safe beside the live table's thread) that has
imported ``options.preload`` once, so each new worker starts warm.
"""

from __future__ import annotations

import atexit
import itertools
import multiprocessing
import os
import pickle
import shutil
import tempfile
import threading
import time
import weakref
from functools import partial
from typing import Any

from runner.execute.base import (
    Completion,
    Completions,
    Done,
    Executor,
    ExecutorOptions,
    Lost,
    Running,
    Task,
)
from runner.execute.chain import reason_of
from runner.execute.local import services, slots
from runner.execute.local import worker as lifeline
from runner.execute.local.monitor import Job, Monitor
from runner.execute.local.pool import FileLock, HardenedPool, end_pool, exit_status, forget_job
from runner.execute.wire import fail_all, unpack

__all__ = ["LocalExecutor", "default_memory_mb"]

# Defaults for ExecutorOptions fields left at None (0 turns the feature off).
DEFAULT_MAX_TASKS_PER_WORKER = 500  # a leaking step is reset often; a new worker costs ~10 ms
DEFAULT_MEMORY_FRACTION = 0.75  # of physical memory, per worker, as an address-space cap
MIN_DEFAULT_MEMORY_MB = 2048  # never cap below this by default (address space > RSS)
LOCK_DIR_PREFIX = "flow-pool-"  # + flow's pid: the queue lock files, in the temp folder


class LocalExecutor(Executor):
    """Runs tasks on worker processes of this machine; see the module docstring.

    Usable as a context manager (``close()`` on the way out, ``cancel()`` on an
    exception); an executor still running at interpreter exit is cancelled.
    """

    def __init__(self) -> None:
        self._pool: HardenedPool | None = None
        self._opts = ExecutorOptions()
        self._out = Completions()
        self._lock = threading.Lock()  # guards _pending and the _pool swap
        self._pending: dict[int, Job] = {}
        self._seqs = itertools.count()
        self._monitor = Monitor(self)
        self._lock_dir = ""
        self._broken: str | None = None  # set: workers cannot start; every task is lost
        self._closed = False
        self._at_exit: Any = None
        self.startup_seconds = 0.0  # how long start() took (fork server and first workers)

    # -- life --------------------------------------------------------------------------------
    def start(self, options: ExecutorOptions) -> None:
        """Start the fork server (once per process) and ``options.workers`` workers."""
        if self._pool is not None or self._closed:
            raise RuntimeError("LocalExecutor.start() called twice")
        t0 = time.perf_counter()
        self._opts = options
        self._ctx = multiprocessing.get_context("forkserver")
        # The preload takes effect when the fork server starts: for the first executor of a
        # process, unless runner.run.warm started it already.
        services.start_fork_server((*services.WORKER_MODULES, *options.preload))
        _sweep_lock_dirs()
        self._lock_dir = tempfile.mkdtemp(prefix=f"{LOCK_DIR_PREFIX}{os.getpid()}-")
        try:
            self._pool = self._new_pool()
        except BaseException:
            self._closed = True
            self._cleanup()
            raise
        try:
            self._monitor.start()
            self._at_exit = partial(_cancel_at_exit, weakref.ref(self))
            atexit.register(self._at_exit)
        except BaseException:  # a Ctrl-C here: the pool just made must not outlive us
            self.cancel()
            raise
        self.startup_seconds = time.perf_counter() - t0

    def _new_pool(self) -> HardenedPool:
        """A pool with its own slot table and lock files (an old one may still be ending)."""
        opts = self._opts
        workers = max(1, opts.workers)
        # Room for replacements that start before the monitor frees their predecessors' slots.
        table = slots.new_table(self._ctx, 2 * workers + 4)
        lock_dir = tempfile.mkdtemp(prefix="pool-", dir=self._lock_dir)
        max_tasks = (DEFAULT_MAX_TASKS_PER_WORKER if opts.max_tasks_per_worker is None
                     else opts.max_tasks_per_worker) or None
        memory = default_memory_mb() if opts.worker_memory_mb is None else opts.worker_memory_mb
        claim_lock = FileLock(os.path.join(lock_dir, "slots.lock"))
        pool = HardenedPool(workers, initializer=lifeline.init_worker,
                            initargs=(os.getpid(), table, claim_lock,
                                      tuple(opts.extra_paths), memory or None),
                            maxtasksperchild=max_tasks, context=self._ctx, lock_dir=lock_dir)
        pool.table = table  # type: ignore[attr-defined]
        return pool

    def capacity(self) -> int:
        """Two tasks per worker: one running, one waiting, so none idles between tasks."""
        return 2 * max(1, self._opts.workers)

    def submit(self, task: Task) -> None:
        """Queue ``task`` for a worker; returns at once."""
        if self._broken is not None:
            self._out.put(Lost(task, None, self._broken))
            return
        try:  # here, not in the pool's thread: a task that does not pickle fails at once
            payload = pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - anything a value's __reduce__ may raise
            self._out.put(Done(task, fail_all(
                task, f"task could not be passed to a worker: {reason_of(exc)}")))
            return
        seq = next(self._seqs)
        with self._lock:  # the monitor may swap in a new pool: take the pool and file the job
            pool = self._pool
            if pool is None or self._closed:
                raise RuntimeError("LocalExecutor is not running")
            job = Job(task, seq, time.monotonic(), pool)
            self._pending[seq] = job  # before apply_async: the result may beat us back
        try:
            ar = pool.apply_async(lifeline.run, (payload, seq, task.task_id),
                                  callback=partial(self._on_result, seq),
                                  error_callback=partial(self._on_error, seq))
        except ValueError as exc:  # that pool was failed and is ending ("Pool not running")
            self.lose(seq, None, f"the worker pool failed: {exc}")
            return
        with self._lock:
            job.result = ar
            if seq not in self._pending:  # lost before we got here: its result is moot
                forget_job(pool, ar)

    def poll(self, timeout: float) -> list[Completion]:
        """Completions since the last call, waiting up to ``timeout`` s for the first."""
        return self._out.take(timeout)

    def running(self) -> list[Running]:
        """The items workers are on, from the slot table (see Executor.running)."""
        pool, now, out = self._pool, time.monotonic(), []
        for v in slots.views(pool.table) if pool is not None else ():
            job = self.job(v.seq) if v.state == slots.RUNNING else None
            if job is not None:
                out.append(Running(job.task, v.offset if v.offset >= 0 else None, now - v.start))
        return out

    def worker_pids(self) -> list[int]:
        """The pids of the live worker processes (for tests and diagnostics)."""
        pool = self._pool
        if pool is None:
            return []
        return [p.pid for p in pool.started() if p.pid and exit_status(p) is None
                and not slots.pid_gone(p.pid)]

    def cancel(self) -> None:
        """Stop now: tasks in flight are abandoned (never reported), every worker ended, < 1 s."""
        self._closed = True
        self._monitor.stop()  # first: a tick in flight must not "repair" a closing pool
        with self._lock:
            self._pending.clear()
            pool, self._pool = self._pool, None
        self._out.clear()
        if pool is not None:
            end_pool(pool, deadline=time.monotonic() + 0.9)
        self._cleanup()

    def close(self) -> None:
        """Let idle workers exit; end them if that takes long. Never hangs.

        With tasks still pending nobody will read their results: that is a cancel().
        """
        if self._closed:
            self._cleanup()
            return
        with self._lock:
            busy = bool(self._pending)
        if busy:
            self.cancel()
            return
        self._closed = True
        self._monitor.stop()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
            joiner = threading.Thread(target=pool.join, daemon=True)
            joiner.start()
            joiner.join(3.0)
            end_pool(pool, deadline=time.monotonic() + 0.9)
        self._cleanup()

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.cancel()

    def _cleanup(self) -> None:
        if self._at_exit is not None:
            atexit.unregister(self._at_exit)
            self._at_exit = None
        if self._lock_dir:
            shutil.rmtree(self._lock_dir, ignore_errors=True)
            self._lock_dir = ""

    # -- completions (called from the pool's result thread: must never raise) ------------------
    def _claim(self, seq: int) -> Job | None:
        with self._lock:
            return self._pending.pop(seq, None)

    def _on_result(self, seq: int, payload: bytes) -> None:
        try:
            job = self._claim(seq)
            if job is None:
                return  # reported Lost already, or cancelled: a late result is ignored
            self._monitor.task_ran()
            self._out.put(Done(job.task, unpack(payload, job.task)))
        except BaseException:  # noqa: BLE001 - an exception here would kill the pool's thread
            pass

    def _on_error(self, seq: int, exc: BaseException) -> None:
        # lifeline.run never raises and tasks and results travel as bytes: this cannot
        # happen short of a bug in the pool; fail the task's items rather than lose them.
        try:
            job = self._claim(seq)
            if job is not None:
                self._out.put(Done(job.task, fail_all(
                    job.task, f"task could not be passed to a worker: {reason_of(exc)}")))
        except BaseException:  # noqa: BLE001
            pass

    # -- what the monitor calls (monitor.Owner) ----------------------------------------------------
    def current_pool(self) -> HardenedPool | None:
        """The pool new tasks go to."""
        return self._pool

    def jobs(self) -> list[Job]:
        """Every task still waited for."""
        with self._lock:
            return list(self._pending.values())

    def job(self, seq: int) -> Job | None:
        """Task ``seq`` if it is still waited for."""
        with self._lock:
            return self._pending.get(seq)

    def lose(self, seq: int, offset: int | None, reason: str, timed_out: bool = False) -> bool:
        """Report task ``seq`` Lost (once: False if it already came back or was lost)."""
        job = self._claim(seq)
        if job is None:
            return False
        if job.result is not None:
            forget_job(job.pool, job.result)
        self._out.put(Lost(job.task, offset, reason, timed_out))
        return True

    def fail_pool(self, why: str, restart: bool = True) -> None:
        """The pool cannot be trusted any more: lose its tasks, start a fresh one.

        ``restart=False`` (workers cannot even start): every later task is lost at once.
        """
        if self._monitor.stopped:
            return
        new: HardenedPool | None = None
        if restart:
            try:
                new = self._new_pool()
            except Exception as exc:  # noqa: BLE001
                why = f"{why}; a new pool cannot start: {reason_of(exc)}"
        if new is None:
            self._broken = why
        with self._lock:  # new submissions go to the new pool from here on
            old, self._pool = self._pool, new
            seqs = [seq for seq, job in self._pending.items() if job.pool is old]
        self._monitor.reset()
        for seq in seqs:
            self.lose(seq, None, why)
        if old is not None:
            threading.Thread(target=end_pool, args=(old, time.monotonic() + 1.0),
                             daemon=True).start()



def default_memory_mb() -> int:
    """The per-worker address-space cap (MiB) used when none is given; 0: none."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError, AttributeError):
        return 0
    return max(MIN_DEFAULT_MEMORY_MB, int(total * DEFAULT_MEMORY_FRACTION))


def _sweep_lock_dirs() -> None:
    """Remove lock folders left by flow processes that were killed (they are empty files)."""
    try:
        base = tempfile.gettempdir()
        for name in os.listdir(base):
            if name.startswith(LOCK_DIR_PREFIX):
                pid = name[len(LOCK_DIR_PREFIX):].split("-")[0]
                if pid.isdigit() and slots.pid_gone(int(pid)):
                    shutil.rmtree(os.path.join(base, name), ignore_errors=True)
    except OSError:
        pass


def _cancel_at_exit(ref: weakref.ReferenceType[LocalExecutor]) -> None:
    ex = ref()
    if ex is not None and not ex._closed:
        ex.cancel()
