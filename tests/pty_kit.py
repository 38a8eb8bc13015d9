"""The real ``flow`` in a real pseudo-terminal of a chosen size, and the frames it drew.

:func:`run_in_pty` starts ``python -m runner ARGS`` on the slave side of a pty whose
window size is set with ``TIOCSWINSZ`` (as a terminal emulator does), reads every byte
the user's terminal would get, and returns them with the exit code. :func:`frames`
cuts rich's live redraws apart: each redraw starts by moving the cursor back up over
the previous frame (``CR``, then ``ERASE LINE`` / ``CURSOR UP`` pairs).
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import sys
import termios
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The cursor moved back to the top of the previous frame: a redraw starts here.
_REDRAW = re.compile(r"\r(?:\x1b\[2K\x1b\[1A)+\x1b\[2K")
_CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_in_pty(*args: str, cwd: Path, columns: int, rows: int = 40,
               timeout: float = 120) -> tuple[int, str]:
    """Run ``flow ARGS`` in ``cwd`` on a ``columns`` x ``rows`` terminal.

    Returns the exit code and everything written to the terminal (stdout and
    stderr both go there, as in a real one), decoded, ``\\r\\n`` kept.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm-256color"}
    env.pop("COLUMNS", None)  # the window size, not the environment, says how wide
    env.pop("LINES", None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal and fds 0, 1, 2
        try:
            os.chdir(cwd)
            os.execve(sys.executable, [sys.executable, "-m", "runner", *args], env)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the child closed its side
                break
            if not data:
                break
            chunks.append(data)
        else:
            os.kill(pid, 9)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode("utf-8", "replace")


def plain(text: str) -> str:
    """``text`` without colours and other control sequences, ``\\r\\n`` made ``\\n``."""
    return _CSI.sub("", text).replace("\r\n", "\n")


def frames(screen: str) -> list[list[str]]:
    """Each redraw of the live table, as its lines (the last one runs to the end)."""
    out = []
    for chunk in _REDRAW.split(screen):
        lines = plain(chunk).split("\n")
        out.append([line.rstrip() for line in lines])
    return out
