"""``mode: serial``: tasks run in flow's own process, with the step timeout kept.

There is no worker to end, so a timeout is a SIGALRM timer armed before each
item (and each retry); its handler raises inside the step, which fails the item
"timed out after N s" like a worker's timeout would. Python code and sleeps are
interrupted; a C call that never returns to the interpreter is not.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from runner.execute.base import Task, TaskResult
from runner.execute.chain import run_task


class ItemTimeout(Exception):
    """An item ran past its step's timeout in the main process."""


class _AlarmTracker:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def begin(self, task_id: int, offset: int) -> None:
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def done(self, count: int) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)


def run_serial(task: Task) -> TaskResult:
    """Run ``task`` here and now; its chain's timeout, if any, is enforced by SIGALRM."""
    limit = task.chain.timeout
    if not limit or threading.current_thread() is not threading.main_thread():
        return run_task(task)

    def expired(signum: int, frame: Any) -> None:
        raise ItemTimeout(f"timed out after {limit:g} s")

    old = signal.signal(signal.SIGALRM, expired)
    try:
        return run_task(task, _AlarmTracker(limit))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
