"""The events a run emits, and the result it ends with.

The engine emits these to one :class:`Reporter`; reporters (live table, plain
lines, JSON Lines) only read them. This module imports nothing heavy so the
engine can use it without pulling in rich.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class StageInfo:
    """A stage as the user sees it: a row of the table."""

    id: str  # e.g. "s1"
    label: str  # the fused steps, "orient→shrink→save"
    mode: str  # "map" | "async" | "serial"
    workers: int
    total: int | None  # items, when known before it starts


@dataclass(frozen=True)
class RunStarted:
    """A run begins: its stages and pool size."""

    workflow: str
    stages: tuple[StageInfo, ...]
    workers: int  # worker processes in the pool
    executor: str  # "local" | "dask"
    t: float


@dataclass(frozen=True)
class StageStarted:
    """A stage's sources are all done: it starts."""

    stage: str
    total: int | None
    t: float


@dataclass(frozen=True)
class StageProgress:
    """Counts so far; ``total`` may grow while upstream stages still feed this one."""

    stage: str
    done: int
    failed: int
    skipped: int
    total: int | None
    t: float


@dataclass(frozen=True)
class ItemFailed:
    """One item failed for good (after its retries)."""

    stage: str
    step: str
    item: str  # the source path, or "item 17 (value 3.5)"
    reason: str
    attempts: int
    t: float
    detail: str = ""  # traceback text, for --verbose and the report


@dataclass(frozen=True)
class StageFinished:
    """A stage ended, with its final counts.

    ``state``: "done" (every item done or up to date), "partial" (some items failed,
    or a reduce whose input lost items upstream), "failed" (every item failed) or
    "cancelled" (it never finished: the run stopped, or its whole input had failed).
    ``seconds``: from its first task sent to its last result back.
    """

    stage: str
    state: str
    done: int
    failed: int
    skipped: int
    seconds: float
    t: float
    missing: int = 0  # items of its input that failed upstream


@dataclass(frozen=True)
class ItemStalled:
    """An item has run far longer than its stage's typical item (``over``: it has
    ended since), so a stall shows without a ``timeout``."""

    stage: str
    item: str  # as ItemFailed names it
    seconds: float  # how long it had run when this was sent
    typical: float | None  # the stage's typical item, in seconds, if known
    t: float
    over: bool = False


@dataclass(frozen=True)
class Notice:
    """Something the user should read once, e.g. "3 multi-frame files: first frame used"."""

    message: str
    t: float


@dataclass(frozen=True)
class ItemNotice:
    """What an item wrote (stdout, stderr, C libraries) or warned while its steps ran.

    Captured in the worker, never printed over the table: counted on screen, the text
    in ``--json``, ``--report`` and the summary under ``--verbose``.
    """

    stage: str
    item: str  # as ItemFailed names it
    text: str
    t: float


@dataclass(frozen=True)
class FailureRecord:
    """A failed item, as the summary and ``--report`` list it."""

    stage: str
    step: str
    item: str
    reason: str
    attempts: int
    detail: str = ""


@dataclass(frozen=True)
class StageSummary:
    """A stage's final counts, as the summary and ``--report`` show them."""

    id: str
    label: str
    mode: str
    workers: int
    state: str
    done: int
    failed: int
    skipped: int
    seconds: float  # from its first task sent to its last result back
    missing: int = 0  # items of its input that failed upstream


@dataclass(frozen=True)
class RunResult:
    """What ``api.run`` returns: enough for the summary, the report and the exit code."""

    workflow: str
    state: str  # "done" | "failed" | "stopped" | "interrupted"
    stages: tuple[StageSummary, ...]
    failures: tuple[FailureRecord, ...]
    outputs: tuple[str, ...]  # folders or files written, for the summary
    notices: tuple[str, ...] = ()
    seconds: float = 0.0
    stopped_by: FailureRecord | None = None  # the item that triggered on_error: stop
    # The values the run ends with, by step id: a reduce nobody consumes (a sum), or
    # the few values of a last map step; small ones only (files are under outputs).
    values: dict[str, Any] = field(default_factory=dict)
    # Step id -> items its input lost to failures upstream, for a reduce nobody
    # consumes: its value (if any) is over part of its input only.
    missing: dict[str, int] = field(default_factory=dict)
    item_notices: tuple[ItemNotice, ...] = ()  # what items wrote, the first ones kept
    item_notices_left_out: int = 0  # more items wrote something; not kept

    @property
    def exit_code(self) -> int:
        """0 all done, 1 failed items or stopped, 130 interrupted."""
        if self.state == "interrupted":
            return 130
        return 0 if self.state == "done" and not self.failures else 1

    def to_json(self) -> dict[str, Any]:
        """The ``--report`` document (and ``--json``'s last event): ``results`` holds the
        values, ``missing`` what each lacks."""
        doc = asdict(self)
        doc["exit_code"] = self.exit_code
        doc["results"] = doc.pop("values")
        return doc


@dataclass(frozen=True)
class RunFinished:
    """The run is over; carries the result."""

    result: RunResult
    t: float


Event = (RunStarted | StageStarted | StageProgress | ItemFailed | StageFinished | Notice
         | RunFinished | ItemNotice | ItemStalled)


class Reporter(Protocol):
    """One subscriber of a run's events."""

    def handle(self, event: Event) -> None:
        """Take one event (called from the engine's thread)."""

    def close(self) -> None:
        """The run is over: stop any display, flush output."""


def event_name(event: Event) -> str:
    """``stage_started`` for StageStarted: the ``event`` field of JSON Lines."""
    name = type(event).__name__
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
