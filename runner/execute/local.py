"""The local executor: tasks on a hardened ``multiprocessing.Pool`` of this machine.

Tasks go to the pool with ``apply_async``; completions come back through a
thread-safe queue that :meth:`LocalExecutor.poll` drains. What plain Pool gets
wrong, and what is done about it here:

- A worker killed mid-task (SIGKILL, the OOM killer, ``os._exit``) makes Pool
  wait for ever (CPython gh-66587). A monitor thread watches every worker the
  pool starts (:class:`~runner.execute.pool.HardenedPool`) and the shared slot
  table (:mod:`runner.execute.slots`): the task a dead worker held becomes
  :class:`Lost` with the item it was on; the pool starts a replacement itself.
- An item past its chain's ``timeout``: the monitor SIGKILLs that worker and
  reports the task Lost (``timed_out``).
- A killed worker holding a queue lock would block the whole pool: the locks are
  ``flock`` locks the kernel releases (see :mod:`runner.execute.pool`).
- Results travel pickled by the worker and are read back in our callback, so a
  value or exception that does not survive pickling fails its item instead of
  killing the pool's result thread (gh-79492); see :mod:`runner.execute.lifeline`.
- Workers ignore Ctrl-C, die with flow, may be recycled and memory-capped.

Workers start from a fork server (safe beside the live table's thread) that has
imported ``options.preload`` once, so each new worker starts warm.
"""

from __future__ import annotations

import atexit
import itertools
import multiprocessing
import os
import queue
import shutil
import signal
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from runner.execute import lifeline, slots
from runner.execute.base import (
    Completion,
    Done,
    Executor,
    ExecutorOptions,
    ItemFailure,
    Lost,
    Task,
    TaskResult,
    range_of,
)
from runner.execute.pool import (
    FileLock,
    HardenedPool,
    exit_status,
    forget_job,
    handlers_alive,
    join_worker_handler,
)
from runner.execute.worker import reason_of

# Defaults for ExecutorOptions fields left at None (0 turns the feature off).
DEFAULT_MAX_TASKS_PER_WORKER = 500  # a leaking step is reset often; a fork costs ~10 ms
DEFAULT_MEMORY_FRACTION = 0.75  # of physical memory, per worker, as an address-space cap
MIN_DEFAULT_MEMORY_MB = 2048  # never cap below this by default (address space > RSS)

TICK = 0.05  # the monitor's period, seconds
RESULT_GRACE = 2.0  # a worker that died after returning: wait this long for its result
ORPHAN_GRACE = 3.0  # see _find_orphans
STARTUP_FAILURES = 5  # workers dying before asking for work, in a row: the pool is broken
TERM_GRACE = 0.25  # cancel(): SIGTERM, then SIGKILL after this
PRELOAD = ("runner.execute.lifeline", "runner.execute.worker")


@dataclass
class _Job:
    task: Task
    seq: int
    submitted: float
    pool: HardenedPool
    result: Any = None  # the pool's AsyncResult
    unheld_since: float | None = None


@dataclass
class _State:
    """Monitor bookkeeping, touched only by the monitor thread (and cancel/close)."""

    killed: dict[int, int] = field(default_factory=dict)  # pid -> seq ended for a timeout
    suspects: dict[int, tuple[float, str]] = field(default_factory=dict)  # seq -> (deadline, why)
    last_death: float | None = None
    startup_failures: int = 0


class LocalExecutor(Executor):
    """Runs tasks on worker processes of this machine; see the module docstring."""

    def __init__(self) -> None:
        self._pool: HardenedPool | None = None
        self._opts = ExecutorOptions()
        self._out: queue.SimpleQueue[Completion] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pending: dict[int, _Job] = {}
        self._seqs = itertools.count()
        self._state = _State()
        self._stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self._lock_dir = ""
        self._broken: str | None = None
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
        ctx = multiprocessing.get_context("forkserver")
        # Takes effect when the fork server starts, i.e. for the first executor of a process.
        ctx.set_forkserver_preload(list(dict.fromkeys((*PRELOAD, *options.preload))))
        self._ctx = ctx
        self._lock_dir = tempfile.mkdtemp(prefix="flow-pool-")
        self._pool = self._new_pool()
        self._monitor = threading.Thread(target=self._watch, name="flow-pool-monitor",
                                         daemon=True)
        self._monitor.start()
        self._at_exit = partial(_close_at_exit, weakref.ref(self))
        atexit.register(self._at_exit)
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

    def submit(self, task: Task) -> None:
        """Queue ``task`` for a worker; returns at once."""
        if self._broken is not None:
            self._out.put(Lost(task, None, self._broken))
            return
        seq = next(self._seqs)
        with self._lock:  # the monitor may swap in a new pool: take the pool and file the job
            pool = self._pool
            if pool is None or self._closed:
                raise RuntimeError("LocalExecutor is not running")
            job = _Job(task, seq, time.monotonic(), pool)
            self._pending[seq] = job  # before apply_async: the result may beat us back
        try:
            ar = pool.apply_async(lifeline.run, (task, seq),
                                  callback=partial(self._on_result, seq),
                                  error_callback=partial(self._on_error, seq))
        except ValueError as exc:  # that pool was failed and is ending ("Pool not running")
            self._lose(seq, None, f"the worker pool failed: {exc}")
            return
        with self._lock:
            job.result = ar
            if seq not in self._pending:  # lost before we got here: its result is moot
                forget_job(pool, ar)

    def poll(self, timeout: float) -> list[Completion]:
        """Completions since the last call, waiting up to ``timeout`` s for the first."""
        try:
            first = self._out.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return []
        out = [first]
        while True:
            try:
                out.append(self._out.get_nowait())
            except queue.Empty:
                return out

    def item_progress(self) -> dict[int, int]:
        """Items finished inside running tasks, by task id (careful path only)."""
        pool = self._pool
        if pool is None:
            return {}
        return {v.task_id: v.done for v in slots.views(pool.table)
                if v.state == slots.RUNNING and v.done}

    def worker_pids(self) -> list[int]:
        """The pids of the live worker processes (for tests and diagnostics)."""
        pool = self._pool
        if pool is None:
            return []
        return [p.pid for p in pool.started() if p.pid and exit_status(p) is None
                and not slots.pid_gone(p.pid)]

    def cancel(self) -> None:
        """Stop now: running tasks are abandoned, every worker ended, within about 1 s."""
        self._closed = True
        self._stop_monitor()
        with self._lock:
            self._pending.clear()
        pool, self._pool = self._pool, None
        if pool is not None:
            _end_pool(pool, deadline=time.monotonic() + 0.9)
        self._cleanup()

    def close(self) -> None:
        """Let the workers finish and exit; end them if that takes long. Never hangs."""
        if self._closed:
            self._cleanup()
            return
        with self._lock:
            busy = bool(self._pending)
        if busy:  # nobody will read those results: do not wait for them
            self.cancel()
            return
        self._closed = True
        self._stop_monitor()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
            joiner = threading.Thread(target=pool.join, daemon=True)
            joiner.start()
            joiner.join(3.0)
            _end_pool(pool, deadline=time.monotonic() + 0.9)
        self._cleanup()

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.cancel()

    def _stop_monitor(self) -> None:
        # Before touching the pool: a tick in flight must not see it closing and "repair" it.
        self._stop.set()
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join(0.5)

    def _cleanup(self) -> None:
        if self._at_exit is not None:
            atexit.unregister(self._at_exit)
            self._at_exit = None
        if self._lock_dir:
            shutil.rmtree(self._lock_dir, ignore_errors=True)
            self._lock_dir = ""

    # -- completions (called from the pool's result thread: must never raise) ------------------
    def _claim(self, seq: int) -> _Job | None:
        with self._lock:
            return self._pending.pop(seq, None)

    def _on_result(self, seq: int, payload: bytes) -> None:
        try:
            job = self._claim(seq)
            if job is None:
                return  # reported Lost already, or cancelled: a late result is ignored
            self._out.put(Done(job.task, unpack(payload, job.task)))
        except BaseException:  # noqa: BLE001 - an exception here would kill the pool's thread
            pass

    def _on_error(self, seq: int, exc: BaseException) -> None:
        # lifeline.run never raises: this is a task that could not be sent (unpicklable
        # item) or, in theory, a result that could not; fail its items, say why.
        try:
            job = self._claim(seq)
            if job is not None:
                self._out.put(Done(job.task, fail_all(
                    job.task, f"task could not be passed to a worker: {reason_of(exc)}")))
        except BaseException:  # noqa: BLE001
            pass

    def _lose(self, seq: int, offset: int | None, reason: str, timed_out: bool = False) -> bool:
        job = self._claim(seq)
        if job is None:
            return False
        if job.result is not None:
            forget_job(job.pool, job.result)
        self._out.put(Lost(job.task, offset, reason, timed_out))
        return True

    # -- the monitor ---------------------------------------------------------------------------
    def _watch(self) -> None:
        while not self._stop.wait(TICK):
            try:
                self._tick()
            except Exception:  # noqa: BLE001 - the monitor must outlive any surprise
                time.sleep(TICK)

    def _tick(self) -> None:
        pool = self._pool
        if pool is None:
            return
        now = time.monotonic()
        self._reap(pool, now)
        table_views = slots.views(pool.table)
        self._enforce_timeouts(pool.table, table_views, now)
        self._expire_suspects(now)
        self._find_orphans(table_views, now)
        if not self._stop.is_set() and self._pool is pool and not handlers_alive(pool):
            self._fail_pool("the worker pool failed (a worker died while sending a result)")

    def _reap(self, pool: HardenedPool, now: float) -> None:
        """Handle each worker the pool has found dead since the last tick."""
        st = self._state
        table = pool.table
        broken = None
        for proc in pool.started():
            code = exit_status(proc)
            if code is None:
                continue
            pool.forget_process(proc)
            why = death_reason(code)
            view = next((v for v in (slots.read(table, i, writer_dead=True)
                                     for i in range(len(table)))
                         if v is not None and v.pid == proc.pid), None)
            killed_seq = st.killed.pop(proc.pid, None)
            if code != 0:
                st.last_death = now
                if view is None or view.seq < 0:  # died before running any task
                    st.startup_failures += 1
                    if st.startup_failures >= STARTUP_FAILURES:
                        broken = f"workers fail to start ({why})"
            if view is None:
                continue
            if view.seq >= 0:
                st.startup_failures = 0
            slots.release(table, view.index, proc.pid)
            if view.seq == killed_seq:
                continue  # reported already as timed out
            if view.state == slots.RUNNING:
                self._lose(view.seq, view.offset if view.offset >= 0 else None, why)
            elif view.state == slots.RETURNED:
                # Its result may still be on the way (a recycled worker exits right after
                # sending it): give it a moment before calling the task lost.
                st.suspects[view.seq] = (now + RESULT_GRACE, why)
        if broken is not None:  # e.g. a memory cap too small to run Python at all
            self._fail_pool(broken, restart=False)

    def _enforce_timeouts(self, table: Any, table_views: list[slots.SlotView],
                          now: float) -> None:
        for v in table_views:
            if v.state != slots.RUNNING:
                continue
            with self._lock:
                job = self._pending.get(v.seq)
            limit = job.task.chain.timeout if job is not None else None
            if not limit or now - v.start <= limit:
                continue
            again = slots.read(table, v.index)
            if again is None or again.gen != v.gen or again.pid != v.pid:
                continue  # it moved on meanwhile
            try:
                os.kill(v.pid, signal.SIGKILL)
            except ProcessLookupError:
                continue  # it died on its own: _reap reports it
            self._state.killed[v.pid] = v.seq
            self._lose(v.seq, v.offset if v.offset >= 0 else None,
                       f"timed out after {limit:g} s", timed_out=True)

    def _expire_suspects(self, now: float) -> None:
        st = self._state
        for seq, (deadline, why) in list(st.suspects.items()):
            with self._lock:
                gone = seq not in self._pending
            if gone:
                del st.suspects[seq]
            elif now >= deadline:
                del st.suspects[seq]
                self._lose(seq, None, f"{why} while sending its result")

    def _find_orphans(self, table_views: list[slots.SlotView], now: float) -> None:
        """Tasks a worker took from the queue but died before saying so in its slot.

        The window is short (reading and unpickling the task), but a task lost there
        would be waited for for ever. A worker that has waited for work for the last
        ORPHAN_GRACE s shows the task queue was empty all that time; so a task submitted
        before then, before a worker death, and not seen in any slot since, was taken by
        a worker that is gone.
        """
        st = self._state
        if st.last_death is None or now - st.last_death > 60:
            return
        waiting = [v.start for v in table_views if v.state == slots.WAITING]
        if not waiting:
            return
        waiting_since = min(waiting)
        held = {v.seq for v in table_views if v.state in (slots.RUNNING, slots.RETURNED)}
        with self._lock:
            jobs = list(self._pending.values())
        for job in jobs:
            if job.seq in held or job.seq in st.suspects:
                job.unheld_since = None
                continue
            if job.unheld_since is None:
                job.unheld_since = now
            if (max(waiting_since, job.submitted) <= now - ORPHAN_GRACE
                    and job.submitted < st.last_death
                    and now - job.unheld_since >= ORPHAN_GRACE):
                self._lose(job.seq, None, "worker died as it took the task")

    def _fail_pool(self, why: str, restart: bool = True) -> None:
        """The pool cannot be trusted any more: lose its tasks, start a fresh one.

        ``restart=False`` (workers cannot even start): every later task is lost at once.
        """
        if self._stop.is_set():
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
        self._state = _State()
        for seq in seqs:
            self._lose(seq, None, why)
        if old is not None:
            threading.Thread(target=_end_pool, args=(old, time.monotonic() + 1.0),
                             daemon=True).start()


# -- helpers ------------------------------------------------------------------------------------

def death_reason(code: int) -> str:
    """"worker killed by SIGKILL" / "worker exited with code 3"."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"worker killed by {name}"
    return f"worker exited with code {code}"


def unpack(payload: bytes, task: Task) -> TaskResult:
    """The TaskResult a worker pickled; if it cannot be read here, every item fails."""
    try:
        import pickle

        result = pickle.loads(payload)
        if isinstance(result, TaskResult):
            return result
        return fail_all(task, f"worker sent back {type(result).__name__}, not a result")
    except BaseException as exc:  # noqa: BLE001
        return fail_all(task, f"result could not be read back: {reason_of(exc)}")


def fail_all(task: Task, reason: str) -> TaskResult:
    """A result in which every item of ``task`` failed for ``reason``."""
    step = task.chain.steps[-1].id if task.chain.steps else "?"
    if task.items is not None:
        offsets: Any = [o for o, _, _ in task.items]
    elif task.span is not None:
        offsets = range(len(range_of(task.span)))
    else:
        offsets = [0]
    return TaskResult(task.task_id, failures=tuple(ItemFailure(o, step, reason) for o in offsets))


def default_memory_mb() -> int:
    """The per-worker address-space cap used when none is given."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError, AttributeError):
        return 0
    return max(MIN_DEFAULT_MEMORY_MB, int(total * DEFAULT_MEMORY_FRACTION))


def _end_pool(pool: HardenedPool, deadline: float) -> None:
    """End ``pool`` and all its workers by ``deadline`` (monotonic); never hangs.

    ``terminate()`` runs in a thread: its first act stops replacements, then it
    waits for workers that we end here ourselves, SIGTERM first, then SIGKILL.
    """
    ender = threading.Thread(target=_quietly, args=(pool.terminate,), daemon=True)
    ender.start()
    join_worker_handler(pool, max(0.0, min(0.3, deadline - time.monotonic())))
    procs = [p for p in pool.started() if p.pid and exit_status(p) is None]
    for sig, until in ((signal.SIGTERM, time.monotonic() + TERM_GRACE), (signal.SIGKILL, deadline)):
        alive = [p.pid for p in procs if not slots.pid_gone(p.pid)]
        for pid in alive:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        while alive and time.monotonic() < until:
            time.sleep(0.01)
            alive = [pid for pid in alive if not slots.pid_gone(pid)]
    ender.join(max(0.0, deadline - time.monotonic()))


def _quietly(fn: Any) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001 - teardown of a broken pool may fail; workers are gone
        pass


def _close_at_exit(ref: weakref.ReferenceType[LocalExecutor]) -> None:
    ex = ref()
    if ex is not None and not ex._closed:
        ex.cancel()
