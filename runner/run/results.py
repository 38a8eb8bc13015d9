"""What a finished run ends with, beside its files: final values, and where values went.

A reduce that no step consumes (a sum, some statistics) ends with one value; a map
step that ends the workflow and writes nothing ends with one value per item, which
flow keeps only when they are few (it lists them) and otherwise names in a notice,
so that no computed value disappears without a word. A reduce whose input lost
items to failures upstream says how many.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from runner.plan import Stage
from runner.run.scheduler import StageRun
from runner.run.uptodate import NOT_NEEDED

VALUES_LISTED = 10  # a last map step's values are listed when there are at most this many
VALUE_CHARS = 500  # ... and when they are this short, written out as JSON


@dataclass
class Ending:
    """The run's final values, what they miss, and the notices about values not kept."""

    values: dict[str, Any] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)


def unconsumed(stages: Iterable[Stage]) -> set[str]:
    """Ids of the stages no other stage takes from: where the run ends."""
    stages = list(stages)
    fed = {src for st in stages for src in st.sources}
    return {st.id for st in stages if st.id not in fed}


def keeps_nothing(stage: Stage) -> bool:
    """A map stage whose last step writes no file: its values go nowhere but here."""
    last = stage.steps[-1]
    return stage.kind == "map" and not last.outputs and last.gives != "path"


def ending(runs: Iterable[StageRun], ends: set[str]) -> Ending:
    """The values of the stages in ``ends``, what they miss, and notices."""
    out = Ending()
    for r in runs:
        if r.stage.id not in ends:
            continue
        step = r.stage.steps[-1]
        if r.stage.kind == "reduce":
            if r.missing:
                out.missing[step.id] = r.missing
            if len(r.results) == 1:
                value = r.results[0][1].value
                written = isinstance(value, str) and os.path.isabs(value)  # under outputs
                # Up to date and too large to have been kept: nothing to show.
                if value is not NOT_NEEDED and not written and len(repr(value)) <= VALUE_CHARS:
                    out.values[step.id] = value
        elif keeps_nothing(r.stage) and r.made:
            values = [it.value for it in r.outputs()]
            kept = not any(v is NOT_NEEDED for v in values)  # up-to-date ones may be dropped
            if kept and step.gives != "image" and r.made <= VALUES_LISTED and \
                    all(_plain(v) for v in values) and len(repr(values)) <= VALUE_CHARS:
                out.values[step.id] = values
            else:
                out.notices.append(_not_kept(step.id, step.gives, r.made))
    return out


def _plain(value: Any) -> bool:
    """A value JSON spells as itself: a number, a string, a truth value, or lists and
    string-keyed dicts of those."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _not_kept(step: str, gives: str, count: int) -> str:
    items = f"{count} item{'s' * (count != 1)}"
    if gives == "image":
        return f"images of step '{step}' ({items}) were not saved: end the workflow with " \
               "image.save to keep them"
    return f"values of step '{step}' ({items}) were not kept: end the workflow with " \
           "io.write to keep them"
