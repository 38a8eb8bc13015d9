"""Items that run far longer than their stage's typical item: seen without a timeout.

The scheduler tells :class:`StallWatch` how long each finished task took per item,
and asks it every half second which running items (from ``Executor.running``) are
stalled: past :data:`FACTOR` times the stage's typical item (the median of recent
ones), and never sooner than :data:`AT_LEAST` seconds in. Each such item is
reported once as it stalls and once when its task is over, as
:class:`runner.report.events.ItemStalled`.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable, Iterable

from runner.execute.base import Running, Task
from runner.report.events import ItemStalled

FACTOR = 10  # an item this many times its stage's typical item is stalled
AT_LEAST = 2.0  # seconds an item runs before it may be called stalled
UNKNOWN = 30.0  # seconds, while a stage has too few finished items to know its typical one
KNOWN_AFTER = 3  # finished tasks a stage needs before its typical item is known
EVERY = 0.5  # seconds between looks


class StallWatch:
    """See the module docstring."""

    def __init__(self) -> None:
        self._per_item: dict[str, deque[float]] = {}
        self._stalled: dict[int, tuple[str, str, float]] = {}  # task id -> stage, item, since
        self._last = 0.0

    def observe(self, task: Task, seconds: float) -> None:
        """``task`` came back after ``seconds`` (its run time, in its worker)."""
        if task.partials is None:
            times = self._per_item.setdefault(task.stage, deque(maxlen=50))
            times.append(seconds / max(1, task.size()))

    def typical(self, stage: str) -> float | None:
        """The stage's typical item, in seconds, once known."""
        times = self._per_item.get(stage)
        return statistics.median(times) if times and len(times) >= KNOWN_AFTER else None

    def due(self) -> bool:
        """Whether it is time for another look (every EVERY s)."""
        now = time.monotonic()
        if now - self._last < EVERY:
            return False
        self._last = now
        return True

    def look(self, running: Iterable[Running], describe: Callable[[Running], str | None]
             ) -> list[ItemStalled]:
        """Events for items newly stalled; ``describe`` names an item (None: a task the
        scheduler no longer waits for)."""
        now = time.monotonic()
        out = []
        for r in running:
            if r.task.task_id in self._stalled:
                continue
            typical = self.typical(r.task.stage)
            per_item = 1 if r.offset is not None else r.task.size()
            limit = UNKNOWN if typical is None else max(AT_LEAST, FACTOR * typical * per_item)
            if r.seconds < limit:
                continue
            item = describe(r)
            if item is None:
                continue
            self._stalled[r.task.task_id] = (r.task.stage, item, now - r.seconds)
            out.append(ItemStalled(r.task.stage, item, r.seconds, typical, time.time()))
        return out

    def over(self, task: Task) -> list[ItemStalled]:
        """The event that a stalled item's task has come back (or was lost)."""
        hit = self._stalled.pop(task.task_id, None)
        if hit is None:
            return []
        stage, item, since = hit
        return [ItemStalled(stage, item, time.monotonic() - since, self.typical(stage),
                            time.time(), over=True)]
