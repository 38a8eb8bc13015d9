"""The worker side of the local pool: what a worker does besides running steps.

:func:`init_worker` is the Pool initializer. It leaves Ctrl-C to the parent (in a
process group of its own), puts the workflow's folder on ``sys.path``, ties the
worker's life to flow's (``PR_SET_PDEATHSIG`` plus a watchdog thread), caps its
address space, and claims a slot in the shared table; a process a step forks from it is no worker
(it ends quietly before it could deliver a result or take a task). :func:`run` is
what the pool calls for each task: it says in the slot which task it holds,
unpickles and runs it, and returns the result already pickled, after making sure
it can be read back, so nothing that fails to pickle or unpickle ever reaches the
pool's own loops (CPython gh-79492).

Nothing here may raise out of the initializer: a Pool whose initializer fails
starts replacement workers in a tight loop for ever.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import time
from typing import Any

from runner.execute.base import ItemFailure, TaskResult
from runner.execute.chain import reason_of, run_task
from runner.execute.local import slots
from runner.execute.local.pool import forget_locks
from runner.execute.wire import Unreadable, pack

EXIT_ORPHANED = 70  # the exit status of a worker that outlived flow
WATCH_INTERVAL = 0.5  # seconds between the watchdog's looks at the parent
_PR_SET_PDEATHSIG = 1


def init_worker(flow_pid: int, table: Any, claim_lock: Any, extra_paths: tuple[str, ...],
                memory_mb: int | None) -> None:
    """Pool initializer: see the module docstring. Never raises."""
    try:
        # The parent handles Ctrl-C and cancels; a worker dying of SIGINT mid-item
        # would only turn a clean stop into a lost task.
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # drops one that came while starting
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked: see services
        # A group of its own: a terminal's Ctrl-C reaches flow alone, and ending the
        # group ends what the worker's steps started too.
        os.setpgid(0, 0)
    except (OSError, ValueError):
        pass
    for path in reversed(extra_paths):
        if path not in sys.path:
            sys.path.insert(0, path)
    _tie_to(flow_pid)
    if memory_mb:
        _cap_memory(memory_mb)
    try:
        slots.claim(table, claim_lock)
    except Exception:  # noqa: BLE001 - run untracked rather than not at all
        pass
    os.register_at_fork(after_in_child=_forked)


def _forked() -> None:
    """A step forked this worker: the child is not a worker (see slots.disown)."""
    slots.disown()
    forget_locks()


def _tie_to(flow_pid: int) -> None:
    """End this worker when flow dies, whoever its parent is.

    With forkserver a worker's parent is the fork server, which exits when flow
    does; PR_SET_PDEATHSIG then kills the worker at once. The watchdog thread
    covers the rest: no prctl (not Linux), or the parent already gone before the
    prctl call, or flow killed while the fork server lingers.
    """
    ppid = os.getppid()
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != ppid or slots.pid_gone(flow_pid):
        os._exit(EXIT_ORPHANED)  # flow died before we were ready to notice
    try:
        threading.Thread(target=_watch, args=(flow_pid, ppid), name="flow-watchdog",
                         daemon=True).start()
    except RuntimeError:
        pass


def _watch(flow_pid: int, ppid: int) -> None:
    while True:
        time.sleep(WATCH_INTERVAL)
        if os.getppid() != ppid or slots.pid_gone(flow_pid):
            os._exit(EXIT_ORPHANED)


def _cap_memory(memory_mb: int) -> None:
    """Cap the address space, so a runaway step gets MemoryError ("out of memory")."""
    try:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = memory_mb * 1024 * 1024
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ImportError, ValueError, OSError):
        pass


def run(payload: bytes, seq: int, task_id: int) -> bytes:
    """Run the pickled task ``payload`` (submission ``seq``); the pickled TaskResult.

    The task arrives pickled so that the slot says which task this worker holds
    before anything of the user's is unpickled, and so that a task that cannot be
    read here fails instead of killing the worker inside the pool's own loop.
    """
    tracker = slots.mine()
    tracker.enter(seq, task_id)
    try:
        task = pickle.loads(payload)
    except BaseException as exc:  # noqa: BLE001
        tracker.set_state(slots.RETURNED)
        return pickle.dumps(Unreadable(reason_of(exc)))
    try:
        result = run_task(task, tracker)
    except BaseException as exc:  # noqa: BLE001 - run_task never raises; this is the net
        result = TaskResult(task.task_id, failures=(
            ItemFailure(0, "?", f"internal error: {reason_of(exc)}"),))
    tracker.set_state(slots.RETURNED)  # what follows is not an item's time
    return pack(result, task)
