"""An executor started by its first task: a run with nothing to do starts no worker.

A re-run that finds everything up to date would otherwise start a pool of workers
and end it again, for nothing: on a busy machine that is most of its time.
"""

from __future__ import annotations

from collections.abc import Callable

from runner.execute.base import Completion, Executor, ExecutorOptions, Running, Task


class LazyExecutor(Executor):
    """Holds ``make()``'s executor back until a task is submitted."""

    def __init__(self, make: Callable[[], Executor]) -> None:
        self._make = make
        self._options: ExecutorOptions | None = None
        self._real: Executor | None = None

    def start(self, options: ExecutorOptions) -> None:
        """Remember how to start; nothing starts yet."""
        self._options = options

    def _started(self) -> Executor:
        if self._real is None:
            assert self._options is not None, "start() first"
            real = self._make()
            # Known before it starts: a Ctrl-C that lands while it starts must still find it
            # to cancel, or a half-started pool would outlive the run.
            self._real = real
            real.start(self._options)
        return self._real

    def capacity(self) -> int:
        """One task before the real executor runs (it starts with it), then its own."""
        return self._real.capacity() if self._real is not None else 1

    def submit(self, task: Task) -> None:
        """Start the real executor if need be, and queue ``task`` on it."""
        self._started().submit(task)

    def poll(self, timeout: float) -> list[Completion]:
        """What came back; nothing before the first task."""
        return self._real.poll(timeout) if self._real is not None else []

    def running(self) -> list[Running]:
        """The items running now (none before the first task)."""
        return self._real.running() if self._real is not None else []

    def cancel(self) -> None:
        """Stop all work now (if any ever started)."""
        if self._real is not None:
            self._real.cancel()

    def close(self) -> None:
        """Release the workers (if any ever started)."""
        if self._real is not None:
            self._real.close()
