"""Every process a run starts ends with the run.

:func:`claim` (first thing in ``flow run``) makes flow the child subreaper of what
it starts: a process a step leaves behind (a ``Popen`` never waited for, a
double-forked daemon) comes back to flow when its parent goes, instead of being
adopted by PID 1. :func:`release` (last thing, after a normal end, a failure or
Ctrl-C) ends every process still below flow and the pool's fork server, and
reaps them; the resource tracker goes last, as flow exits. Nothing is left
running, and no zombie.
"""

from __future__ import annotations

import atexit

from runner import procs
from runner.execute.local import services

_claimed = False


def claim() -> bool:
    """Make this process the subreaper of everything it starts from now on; at its
    exit, the resource tracker goes last (see :func:`_at_exit`)."""
    global _claimed
    if not _claimed:
        _claimed = True
        # Registered before multiprocessing and Dask register theirs: run after them.
        atexit.register(_at_exit)
        procs.ctrl_c_to_main_thread_only()  # nor is one cut short by Ctrl-C as it starts
    return procs.become_subreaper()


def release() -> list[int]:
    """After :func:`claim`: end and reap every process below this one but the resource
    tracker (see :func:`_at_exit`); the pids that would not go (none, short of a
    process in uninterruptible sleep)."""
    if not _claimed:
        return []
    tracker = frozenset(p for p in (services.tracker_pid(),) if p)
    server = frozenset(p for p in (services.fork_server_pid(),) if p)
    procs.end_descendants(spare=tracker | server)  # workers, steps' processes, daemons
    services.stop_fork_server()
    return procs.end_descendants(spare=tracker)


def _at_exit() -> None:
    """The resource tracker last, once the finalizers of what this process registered
    with it (a Dask cluster's semaphores) have run: it then finds nothing to clean up
    and warn about, and goes; reaped, it leaves no zombie."""
    from multiprocessing import util

    util._exit_function()  # private: multiprocessing's own exit hook (it runs once)
    services.stop_tracker()
    procs.end_descendants()
