"""A run's hold on its working directory: the lock, then the journal, before any work.

Both are taken before a worker starts, so a second run waits (or refuses) and a
``.flow`` that cannot be written is an error at once, not after the work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from runner.files.journal import Journal
from runner.files.lock import WorkdirLock


@dataclass
class Session:
    """The lock and the open journal of one run; close it when the run is over."""

    lock: WorkdirLock
    journal: Journal
    notice: str | None = None  # a store set aside, said once

    def close(self) -> None:
        """Close the journal (it checkpoints), then let the next run in."""
        self.journal.close()
        self.lock.release()


def open_session(workdir: str, workflow: str, wait: bool = True,
                 on_wait: Callable[[str], None] | None = None) -> Session:
    """Lock ``workdir`` (waiting for another run unless ``wait`` is False) and open its
    journal. Raises FlowError (exit 2) when either cannot be had."""
    lock = WorkdirLock.acquire(workdir, workflow, wait=wait, on_wait=on_wait)
    try:
        journal, notice = Journal.for_run(workdir)
    except BaseException:
        lock.release()
        raise
    return Session(lock, journal, notice)
