"""What a run would do, without running anything: per stage, what would run and why.

The stages are walked in order with the same :class:`~runner.run.uptodate.Judge` a
run uses, so ``--dry-run`` and ``flow explain`` say exactly what ``flow run``
would do. No step is called and nothing is written; an item that would run is
assumed to pass on (a filter's verdict is known only by running it). The time
estimate adds up what each item to run took in the run that made it (or its
stage's average), spread over the stage's workers.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from runner.files.inputs import Item
from runner.plan import Stage
from runner.run.prepare import Prepared
from runner.run.uptodate import Judge, Verdict

EXAMPLES = 5  # items named per reason
WINDOW = 256


@dataclass
class StageForecast:
    """One stage's forecast: counts, reasons with a few examples, the time it would take."""

    stage: Stage
    workers: int
    whole: bool  # judged as a whole (a reduce, a range)
    run: int = 0
    skip: int = 0
    reasons: dict[str, tuple[int, list[str]]] = field(default_factory=dict)
    secs: float = 0.0  # seconds the items to run took before
    untimed: int = 0  # items to run that never ran before

    def add(self, v: Verdict, name: str, count: int = 1, per: float | None = None) -> None:
        """Count ``count`` items with verdict ``v``; ``per``: seconds one took, if known."""
        if not v.run:
            self.skip += count
            if v.reason == "up to date":
                return
        else:
            self.run += count
            took = v.secs if v.secs is not None else per
            if took is None:
                self.untimed += count
            else:
                self.secs += took if self.whole else took * count
        n, names = self.reasons.get(v.reason, (0, []))
        if len(names) < EXAMPLES and name:
            names.append(name)
        self.reasons[v.reason] = (n + count, names)


def describe(item: Item, workdir: str) -> str:
    """An item as the user names it: its file below the working directory, or its value."""
    if item.source is not None:
        rel = os.path.relpath(item.source, workdir)
        return item.source if rel.startswith("..") else rel
    return repr(item.value)


def forecast(prep: Prepared, judge: Judge, workers: Callable[[Stage, int], int],
             on_item: Callable[[Stage, Item, Verdict], None] | None = None,
             ) -> list[StageForecast]:
    """The forecast of every stage; ``workers(stage, count)`` is how many it would use;
    ``on_item`` hears each verdict on an item judged item by item."""
    workdir = judge.snap.workdir
    passed: dict[str, list[Item] | None] = {}
    out = []
    for st in prep.plan.stages:
        count = prep.root_count(st)
        fc = StageForecast(st, workers(st, prep.task_items(st)), whole=not judge.item_level(st))
        slot = judge.slot(st)
        per = slot.secs if slot is not None else None
        keep = any(judge.item_level(c) for c in judge.consumers(st))
        if fc.whole:
            v = judge.stage(st)
            fc.add(v, "", count, per)
            passed[st.id] = [Item(0, v.value)] if st.kind == "reduce" else None
        else:
            items = _items(prep, st, passed)
            kept: list[Item] | None = [] if keep else None
            if items is None:  # fed by a stage judged whole: its items are made again
                fc.add(Verdict(True, "its input is made again"), "", count, per)
            else:
                while window := list(itertools.islice(items, WINDOW)):
                    for it, (v, _) in zip(window, judge.items(st, window), strict=True):
                        fc.add(v, describe(it, workdir), 1, per)
                        if on_item is not None:
                            on_item(st, it, v)
                        if kept is not None and (v.run or v.passed):
                            kept.append(it if v.run else Item(it.index, v.value, it.source,
                                                              it.root))
            passed[st.id] = kept
        out.append(fc)
    return out


def _items(prep: Prepared, st: Stage, passed: dict[str, list[Item] | None],
           ) -> Iterator[Item] | None:
    parts: list[Iterable[Item]] = []
    for src in st.sources:
        if src in prep.sources:
            parts.append(prep.sources[src].items())
        elif passed.get(src) is None:
            return None
        else:
            parts.append(passed[src] or ())
    return itertools.chain.from_iterable(parts)


def estimate(forecasts: list[StageForecast]) -> tuple[float, int]:
    """Seconds the run would take from what its items took before, and how many items
    to run have no time yet."""
    secs = sum(fc.secs / max(1, fc.workers) for fc in forecasts)
    return secs, sum(fc.untimed for fc in forecasts)
