"""Flow's book of Dask submissions: how many tasks go in one, and what a lost one becomes.

A submission (:class:`Batch`) carries one or more flow tasks of a stage. :class:`Sizer`
picks how many, from the seconds the stage's tasks took so far, so that Dask's own cost
per submission (:data:`TASK_OVERHEAD`) stays under :data:`OVERHEAD_SHARE` of the work.

When a submission's worker dies or an item passes its timeout, the nanny's watcher says
which task and item (:func:`settle_news`): that task is :class:`Lost` at that item, and
the submission's other tasks are sent again (their results died with the worker, or they
never began). When the watcher says nothing (no nanny on that worker), every task is
lost without an item (:func:`settle_silence`) and the scheduler finds the culprit by
running them again item by item.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from runner.execute.base import Completion, Lost, Running, Task

# Seconds of the cluster's time Dask spends on each submission (scheduler, worker, client:
# about 6 ms of CPU for a task that does nothing, on the 2-core machine of bench/).
TASK_OVERHEAD = 0.003
OVERHEAD_SHARE = 0.05  # at most this share of a submission's time goes to that overhead
MAX_BATCH = 64  # flow tasks in one submission at most (each holds its stage's chunk)
LEARN = 0.3  # weight of the newest task in the running mean of a stage's task seconds


@dataclass
class Batch:
    """One Dask submission and the flow tasks it carries."""

    key: str
    tasks: tuple[Task, ...]
    future: Any = None  # distributed.Future
    error: str | None = None  # its future failed for this reason; waiting for the watcher
    deadline: float = 0.0  # ... until then (time.monotonic())
    worker: str = ""  # the worker it was on when it failed, if the scheduler said


class Sizer:
    """How many of a stage's tasks one submission carries (see the module docstring)."""

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}  # stage -> running mean of its tasks' seconds

    def learn(self, stage: str, seconds: float) -> None:
        """One task of ``stage`` took ``seconds`` in its worker."""
        old = self._seconds.get(stage)
        self._seconds[stage] = seconds if old is None else old + LEARN * (seconds - old)

    def batch(self, stage: str) -> int:
        """Tasks per submission for ``stage``: 1 until one of its tasks came back."""
        seconds = self._seconds.get(stage)
        if seconds is None:
            return 1
        want = TASK_OVERHEAD / OVERHEAD_SHARE  # seconds of work per submission
        return max(1, min(MAX_BATCH, math.ceil(want / max(seconds, 1e-6))))

    def widest(self) -> int:
        """The largest batch of any stage (what capacity must leave room for)."""
        return max((self.batch(s) for s in self._seconds), default=1)


def split(tasks: list[Any], size: int, threads: int) -> list[list[Any]]:
    """``tasks`` in submissions of ``size``, smaller when there are too few to keep
    ``threads`` busy (the end of a stage)."""
    size = max(1, min(size, math.ceil(len(tasks) / max(1, threads))))
    return [tasks[i:i + size] for i in range(0, len(tasks), size)]


def settle_news(batch: Batch, culprit: int, offset: int | None,
                limit: float | None = None) -> tuple[list[Completion], list[Task]]:
    """What the watcher's word makes of a lost submission: task ``culprit`` is lost at
    ``offset`` (timed out, when ``limit`` is given); the others are to be sent again."""
    reason = f"timed out after {limit:g} s" if limit else "worker died"
    lost: list[Completion] = []
    again: list[Task] = []
    for task in batch.tasks:
        if task.task_id == culprit and not lost:
            lost.append(Lost(task, offset, reason, timed_out=bool(limit)))
        else:
            again.append(task)  # done before the culprit (its result died too), or not begun
    return lost, again


def settle_silence(batch: Batch) -> list[Completion]:
    """A lost submission the watcher said nothing of: every task lost, no item known."""
    return [Lost(task, None, batch.error or "worker died") for task in batch.tasks]


def running(reports: Iterable[tuple[float, list[Any]]], pending: dict[str, Batch],
            now: float) -> list[Running]:
    """The items the watchers said run long, among the ``pending`` submissions: each
    report is when it was heard (``time.monotonic()``) and its ``[key, task id, offset,
    seconds]`` items; their seconds go on from there."""
    out = []
    for heard, items in reports:
        for key, task_id, offset, seconds in items:
            batch = pending.get(str(key))
            if batch is None or batch.error is not None:
                continue  # it came back, or was lost, since
            out.extend(Running(task, offset, seconds + now - heard)
                       for task in batch.tasks if task.task_id == task_id)
    return out
