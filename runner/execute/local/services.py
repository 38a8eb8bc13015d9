"""The helper processes multiprocessing starts for the pool: a fork server and a
resource tracker, both children of flow.

The fork server starts with Ctrl-C blocked (:func:`start_fork_server`): the
signal mask survives ``exec`` and ``fork``, so neither it nor a worker forked from
it can be interrupted while still importing (which printed a child's traceback);
the resource tracker does the same for itself. flow alone handles Ctrl-C, and ends
them.

At the end of a run :func:`stop_fork_server` and, last of all,
:func:`stop_tracker` end them and reap them, so neither outlives flow, not even as
a zombie. Both touch private attributes of :mod:`multiprocessing` (the
two singletons and their ``_stop``), checked against CPython 3.10-3.13.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading

from runner.procs import ctrl_c_held

# What every pool worker runs: imported once in the fork server, before any step module.
WORKER_MODULES = ("runner.execute.local.worker", "runner.execute.chain")


def start_fork_server(preload: tuple[str, ...]) -> None:
    """Start the fork server (and the resource tracker), importing ``preload`` once;
    nothing if it runs already. It and every worker forked from it begin with Ctrl-C
    blocked; a worker ignores it, then unblocks it (``worker.init_worker``)."""
    from multiprocessing import forkserver, resource_tracker

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(dict.fromkeys(preload)))
    # First, on its own: starting it blocks and then unblocks Ctrl-C itself.
    resource_tracker.ensure_running()
    with ctrl_c_held():
        forkserver.ensure_running()


def fork_server_pid() -> int | None:
    """The fork server's pid, if it runs."""
    from multiprocessing import forkserver

    return getattr(forkserver._forkserver, "_forkserver_pid", None)  # private singleton


def tracker_pid() -> int | None:
    """The resource tracker's pid, if it runs."""
    from multiprocessing import resource_tracker

    return getattr(resource_tracker._resource_tracker, "_pid", None)  # private singleton


def stop_fork_server() -> None:
    """End the fork server and reap it. It has nothing to clean up and may still be
    importing its preload (it looks at its pipe only then): SIGKILL, then its own
    ``_stop``, which closes the pipe, reaps it and forgets it."""
    from multiprocessing import forkserver

    server = forkserver._forkserver  # private singleton, see the module docstring
    pid = getattr(server, "_forkserver_pid", None)
    if pid:
        _quiet_pool_starts()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _quietly(server._stop)


def stop_tracker(timeout: float = 2.0) -> None:
    """End the resource tracker and reap it; never hangs. Call it last: it cleans up
    (and warns about) whatever is still registered with it.

    Its own ``_stop`` closes the pipe it waits on and waits for it to exit, in a
    thread: one still there after ``timeout`` s (its pipe held open by some process)
    is SIGKILLed, which ends the wait.
    """
    from multiprocessing import resource_tracker

    tracker = resource_tracker._resource_tracker  # private singleton
    pid = getattr(tracker, "_pid", None)
    if not pid:
        return
    waiter = threading.Thread(target=_quietly, args=(tracker._stop,), daemon=True)
    waiter.start()
    waiter.join(timeout)
    if waiter.is_alive():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        waiter.join(timeout)


def _quiet_pool_starts() -> None:
    """From now on, a pool's worker-starting thread that fails is not printed.

    A pool told to end (Ctrl-C while it starts) may have a thread still starting a
    replacement worker through the fork server, which waits until the server has
    imported its preload. Ending the server under it makes that start fail; the pool is
    over, so the failure means nothing, and a traceback after flow's last line would
    only alarm. Any other thread's error is printed as ever.
    """
    before = threading.excepthook
    if getattr(before, "flow_quiet_pool", False):
        return

    def hook(args: threading.ExceptHookArgs) -> None:
        name = getattr(args.thread, "name", "") or ""
        if not name.endswith("(_handle_workers)"):  # the thread name Pool gives it
            before(args)

    hook.flow_quiet_pool = True  # type: ignore[attr-defined]
    threading.excepthook = hook


def _quietly(fn) -> None:  # noqa: ANN001 - a bound method of either service
    try:
        fn()
    except (OSError, ValueError):  # it was gone already
        pass
