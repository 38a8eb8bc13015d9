"""``flow``: the command ``pip install`` writes runs :func:`entry`, as does ``python -m
runner``, so both start and end alike."""

import atexit
import os
import signal
import sys
import threading
from typing import NoReturn


def _exit_now(code: int, join: bool) -> NoReturn:
    """Run the exit hooks, flush, and end the process with ``code`` at once; ``join``: first
    wait for the threads Python would wait for."""
    if join:
        for thread in threading.enumerate():
            if not thread.daemon and thread is not threading.current_thread():
                thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def entry() -> NoReturn:
    """Run flow's command line and end the process with its exit code (SPEC 3)."""
    try:
        from runner.cli import main

        code = main()
    except KeyboardInterrupt:  # Ctrl-C while flow was still starting (importing itself)
        print("interrupted", file=sys.stderr)
        code = 130
    # flow is done: a Ctrl-C from here on must not turn its exit into a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if code == 130:
        # After an early KeyboardInterrupt Python may end the process by SIGINT whatever
        # the exit code given: run the exit hooks, then say 130, as promised.
        _exit_now(130, join=False)
    if "distributed" in sys.modules:
        # Tearing down the interpreter after Dask was loaded (its thousands of modules and
        # objects, one by one) takes 0.1-0.2 s that nobody needs: everything flow wrote is
        # closed by now (the journal, the report, its outputs), the exit hooks still run
        # (the resource tracker, the last reap), and the output is flushed.
        _exit_now(code, join=True)
    raise SystemExit(code)


if __name__ == "__main__":
    entry()
