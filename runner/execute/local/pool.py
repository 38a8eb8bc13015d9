"""``multiprocessing.Pool`` with the two holes that make it hang closed.

1. Its queues are guarded by semaphores. A worker killed while it holds one
   (an idle worker waits for work *holding* the task queue's read lock; a worker
   sending its result holds the result queue's write lock) leaves it locked for
   ever: every other worker, and ``Pool.terminate()`` itself, then block. Here the
   locks are ``flock`` locks on a file, which the kernel releases when the
   holder dies, so killing any worker at any moment leaves the pool usable.
2. The pool starts replacement workers but never says which ones died.
   :class:`HardenedPool` keeps every worker ``Process`` it starts, so the
   executor's monitor sees each death and its exit status.

Everything here that touches a private attribute of ``multiprocessing.pool``
is a small function of its own with a comment, checked against CPython
3.10-3.13.
"""

from __future__ import annotations

import fcntl
import os
import signal
import threading
import time
import weakref
from multiprocessing import connection
from multiprocessing.pool import Pool
from multiprocessing.queues import SimpleQueue
from typing import Any

from runner.execute.local import slots
from runner.procs import kill_group


class FileLock:
    """A lock between processes that dies with its holder (``flock`` on a file).

    Pickles as its path; each process opens its own file description (``flock``
    excludes by open file description), and a thread lock orders the threads of
    one process. Used only where Pool uses its queue locks.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid = 0
        self._id = (0, 0)  # the lock file's (device, inode), to know _fd still names it
        self._tlock = threading.Lock()
        _locks.add(self)

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])  # type: ignore[misc]

    def _fileno(self) -> int | None:
        if self._fd is not None and self._pid == os.getpid() and not self._still_ours():
            self._fd = None  # a step closed it (the number may name its own file now)
        if self._fd is None or self._pid != os.getpid():
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                st = os.fstat(self._fd)
            except OSError:
                return None  # the pool is gone (its folder removed): nothing left to guard
            self._pid, self._id = os.getpid(), (st.st_dev, st.st_ino)
        return self._fd

    def _still_ours(self) -> bool:
        try:
            st = os.fstat(self._fd)  # type: ignore[arg-type]
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self._id

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        """Take the lock; with ``block=False`` only if it is free at once."""
        wait = -1 if (timeout is None or not block) else timeout
        deadline = time.monotonic() + (timeout or 0.0)
        if not self._tlock.acquire(block, wait):
            return False
        fd = self._fileno()
        if fd is None:
            return True
        try:
            if block and timeout is None:
                fcntl.flock(fd, fcntl.LOCK_EX)
                return True
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    if not block or time.monotonic() >= deadline:
                        self._tlock.release()
                        return False
                    time.sleep(0.005)
        except BaseException:
            self._tlock.release()
            raise

    def release(self) -> None:
        """Let the next holder in."""
        fd = self._fileno()
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        self._tlock.release()

    def close(self) -> None:
        """Close this process's file (releasing the lock if held here)."""
        fd, self._fd = self._fd, None
        if fd is not None and self._pid == os.getpid():
            os.close(fd)

    def forget_after_fork(self) -> None:
        """In a forked child: close the parent's file without unlocking it. A child
        that lives on (a step's daemon) must not keep the parent's lock alive after
        the parent dies: ``flock`` holds until every copy of the file is closed."""
        fd, self._fd = self._fd, None
        if fd is not None and self._pid != os.getpid():
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


_locks: weakref.WeakSet[FileLock] = weakref.WeakSet()  # this process's, for forget_locks()


def forget_locks() -> None:
    """In a forked child: :meth:`FileLock.forget_after_fork` on every lock."""
    for lock in list(_locks):
        lock.forget_after_fork()


EXIT_CUT_OFF = 71  # a worker whose line to flow is gone: flow died, or a step closed it


class _Queue(SimpleQueue):
    """Pool's SimpleQueue with death-proof locks; ``get`` marks the worker WAITING.

    In a worker, a pipe that is no longer the one flow made (a step closed the
    worker's files, and maybe opened others under the same numbers) or that flow no
    longer reads (flow was killed) ends the worker at once with :data:`EXIT_CUT_OFF`,
    quietly, instead of a traceback from the pool's loop on flow's terminal.
    """

    def __init__(self, *, ctx: Any, lock_dir: str, name: str) -> None:
        # Mirrors SimpleQueue.__init__ without creating semaphores we would not use.
        self._reader, self._writer = connection.Pipe(duplex=False)
        self._rlock = FileLock(os.path.join(lock_dir, f"{name}.read.lock"))
        self._poll = self._reader.poll
        self._wlock = FileLock(os.path.join(lock_dir, f"{name}.write.lock"))
        self._owner = os.getpid()  # flow: the parent's own put() is never cut off
        self._worker = 0
        self._ends = ((0, 0), (0, 0))

    def __getstate__(self) -> tuple[Any, ...]:
        return (*super().__getstate__(), self._owner)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        super().__setstate__(state[:4])
        self._owner = state[4]
        # In the worker, before any step ran (and before it closes the ends it does not use).
        self._worker = os.getpid()
        self._ends = (_identity(self._reader), _identity(self._writer))

    def _intact(self, end: int) -> None:
        if os.getpid() != self._worker:
            os._exit(0)  # a process a step forked: it is no worker (see worker._forked)
        conn = self._writer if end else self._reader
        if _identity(conn) != self._ends[end]:
            os._exit(EXIT_CUT_OFF)

    def get(self) -> Any:
        # Only workers call get() (the parent reads with _quick_get): the monitor
        # learns from WAITING that this worker holds no task.
        slots.mine().set_state(slots.WAITING)
        self._intact(0)
        try:
            return super().get()
        except OSError:
            os._exit(EXIT_CUT_OFF)

    def put(self, obj: Any) -> None:
        if os.getpid() == self._owner:
            return super().put(obj)  # flow's own sentinel as the pool ends
        self._intact(1)
        try:
            return super().put(obj)
        except OSError:  # BrokenPipeError: flow is gone, nobody reads this any more
            os._exit(EXIT_CUT_OFF)


def _identity(conn: Any) -> tuple[int, int]:
    """Which file a connection's descriptor names (device, inode), (0, 0) if none: the
    same number may name another file once a step closed ours."""
    try:
        st = os.fstat(conn.fileno())
    except (OSError, ValueError):
        return (0, 0)
    return (st.st_dev, st.st_ino)


class _LocalQueue(SimpleQueue):
    """A SimpleQueue used only inside the parent: thread locks, no semaphores."""

    def __init__(self) -> None:
        self._reader, self._writer = connection.Pipe(duplex=False)
        self._rlock = threading.Lock()
        self._poll = self._reader.poll
        self._wlock = threading.Lock()


class _Context:
    """The pool's context, but its change notifier (parent-only) uses no semaphores.

    Semaphores are registered with the resource tracker, which, when flow is
    SIGKILLed, cleans them up with a "leaked semaphore objects" warning on the
    user's terminal.
    """

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    def SimpleQueue(self) -> _LocalQueue:  # noqa: N802 - the context's name
        return _LocalQueue()


class HardenedPool(Pool):
    """A Pool whose queue locks survive killed workers and which keeps its workers."""

    def __init__(self, *args: Any, lock_dir: str, context: Any, **kwargs: Any) -> None:
        self._lock_dir = lock_dir
        self._started: list[Any] = []
        self._started_lock = threading.Lock()
        super().__init__(*args, context=_Context(context), **kwargs)

    # Pool calls self.Process for every worker it starts, replacements included
    # (a staticmethod in CPython; an instance method works the same through self).
    def Process(self, ctx: Any, *args: Any, **kwds: Any) -> Any:
        proc = ctx.Process(*args, **kwds)
        with self._started_lock:
            self._started.append(proc)
        return proc

    # Pool builds its two queues here (a private hook, stable since 3.4).
    def _setup_queues(self) -> None:
        self._inqueue = _Queue(ctx=self._ctx, lock_dir=self._lock_dir, name="tasks")
        self._outqueue = _Queue(ctx=self._ctx, lock_dir=self._lock_dir, name="results")
        self._quick_put = self._inqueue._writer.send
        self._quick_get = self._outqueue._reader.recv

    def started(self) -> list[Any]:
        """Every worker Process started so far and not yet :meth:`forget_process`-ed."""
        with self._started_lock:
            return list(self._started)

    def forget_process(self, proc: Any) -> None:
        """Stop listing a worker whose death has been handled."""
        with self._started_lock:
            try:
                self._started.remove(proc)
            except ValueError:
                pass


def exit_status(proc: Any) -> int | None:
    """A worker's exit status once the pool has reaped it, else None.

    Reads ``Popen.returncode`` without polling: with forkserver the status comes
    through a pipe that only one reader may drain, and the pool's worker handler
    reads it (it wakes on the worker's sentinel at once). A second reader racing it
    could see "exit code 255" instead of the signal.
    """
    popen = getattr(proc, "_popen", None)  # private: set by Process.start()
    return None if popen is None else popen.returncode


def forget_job(pool: Pool, async_result: Any) -> None:
    """Drop a lost task's AsyncResult from the pool's cache.

    Its result will never come; left in ``Pool._cache`` (private) it would keep
    ``close()``/``join()`` waiting for ever, and a late result for it is dropped
    by the pool's result handler when the job is no longer there.
    """
    try:
        del pool._cache[async_result._job]  # __delitem__ wakes the worker handler when empty
    except (KeyError, AttributeError):
        pass


def handlers_alive(pool: Pool) -> bool:
    """Whether the pool's three service threads still run (private attributes)."""
    return all(t.is_alive() for t in (pool._worker_handler, pool._task_handler,
                                      pool._result_handler))


def join_worker_handler(pool: Pool, timeout: float) -> None:
    """Wait for the thread that starts replacement workers to stop (private attribute).

    ``terminate()`` tells it to stop first thing; once it has, no new worker can
    appear behind our back while we end the old ones.
    """
    handler = getattr(pool, "_worker_handler", None)
    if handler is not None and handler is not threading.current_thread():
        handler.join(timeout)


TERM_GRACE = 0.25  # end_pool(): SIGTERM, then SIGKILL after this


def end_pool(pool: HardenedPool, deadline: float) -> None:
    """End ``pool`` and every worker it started by ``deadline`` (monotonic); never hangs.

    ``terminate()`` runs in a thread: its first act stops replacements, then it
    waits for the workers, which are ended here, SIGTERM first, then SIGKILL.
    Without that, ``terminate()`` could wait for ever on a worker that holds a lock.
    """
    ender = threading.Thread(target=_quietly, args=(pool.terminate,), daemon=True)
    ender.start()
    join_worker_handler(pool, max(0.0, min(0.3, deadline - time.monotonic())))
    procs = [p for p in pool.started() if p.pid and exit_status(p) is None]
    for sig, until in ((signal.SIGTERM, time.monotonic() + TERM_GRACE),
                       (signal.SIGKILL, deadline)):
        alive = [p.pid for p in procs if not slots.pid_gone(p.pid)]
        for pid in alive:
            try:
                kill_group(pid, sig)  # the worker and what its steps started
            except ProcessLookupError:
                pass
        while alive and time.monotonic() < until:
            time.sleep(0.01)
            alive = [pid for pid in alive if not slots.pid_gone(pid)]
    ender.join(max(0.0, deadline - time.monotonic()))
    if not ender.is_alive():
        # terminate() took the queue locks in this process and keeps them: close their files.
        for q in (pool._inqueue, pool._outqueue):  # private: the queues _setup_queues made
            for lock in (q._rlock, q._wlock):
                if isinstance(lock, FileLock):
                    lock.close()


def _quietly(fn: Any) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001 - ending a failed pool may raise; its workers are gone
        pass
