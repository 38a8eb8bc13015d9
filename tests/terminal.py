"""Run ``flow`` on a real pseudo-terminal, as a user at a terminal would."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def run_on_terminal(cwd: Path, *args: str, columns: int = 120,
                    timeout: float = 120) -> tuple[int, str]:
    """``flow ARGS`` on a pseudo-terminal ``columns`` wide: the exit code and every byte
    it wrote (control codes included), as text."""
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": str(columns), "LINES": "40",
           "TERM": "xterm"}
    proc = subprocess.Popen([sys.executable, "-m", "runner", *args], cwd=cwd, stdin=slave,
                            stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    code = proc.wait(timeout=timeout)
    os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")
