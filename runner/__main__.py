"""``python -m runner`` is ``flow``."""

import atexit
import os
import signal
import sys

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
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(130)
raise SystemExit(code)
