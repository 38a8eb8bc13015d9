"""``mode: serial``: an executor that runs each task in flow's own process, as it is submitted.

Like every executor it takes tasks with ``submit`` and hands back what became of them
with ``poll``; it simply runs the task inside ``submit`` (one at a time, so its
capacity is 1) and keeps the result until it is polled. Nothing crosses a process
boundary, and no worker can be lost.

There is no worker to end, so a timeout is a SIGALRM timer armed before each
item (and each retry); its handler raises inside the step, which fails the item
"timed out after N s" like a worker's timeout would. Python code and sleeps are
interrupted; a C call that never returns to the interpreter is not. Ctrl-C raises
KeyboardInterrupt out of ``submit``: the run ends, as the user asked.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from runner.execute.base import (
    Completion,
    Completions,
    Done,
    Executor,
    ExecutorOptions,
    Task,
    TaskResult,
)
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


class SerialExecutor(Executor):
    """Runs tasks in this process, one at a time, as they are submitted (see above)."""

    def __init__(self) -> None:
        self._ready = Completions()
        self._running = False

    def start(self, options: ExecutorOptions) -> None:
        """Nothing to bring up: the steps run here (``options`` has nothing for it)."""
        self._running = True

    def capacity(self) -> int:
        """One task at a time: ``submit`` returns only when it has run."""
        return 1

    def submit(self, task: Task) -> None:
        """Run ``task`` now; its result waits for :meth:`poll`."""
        if not self._running:
            raise RuntimeError("SerialExecutor is not running")
        self._ready.put(Done(task, run_serial(task)))

    def poll(self, timeout: float) -> list[Completion]:
        """The results of the tasks run since the last call (never waits: none is pending)."""
        return self._ready.take(0)

    def cancel(self) -> None:
        """Forget results not yet polled; later submits are refused."""
        self._running = False
        self._ready.clear()

    def close(self) -> None:
        """Nothing to release."""
        self.cancel()
