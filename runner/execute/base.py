"""The executor contract: what a stage's work looks like on the wire.

A :class:`Task` is a chunk of one stage's items plus the fused chain of step
functions to run on each (or a reduce over all of them). A worker runs it with
:func:`runner.execute.chain.run_task` and sends back a small
:class:`TaskResult`; pixels stay in the worker. An :class:`Executor` moves
tasks to workers and reports what became of each: finished, or lost (the
worker died or timed out) so the scheduler never waits on a result that
cannot come. Every mode is an executor (``serial`` runs tasks in flow's own
process), and each says how many tasks it can usefully hold at once.
"""

from __future__ import annotations

import queue
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from runner.execute.span import Span

Pairs = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class ChainStep:
    """One step of a fused chain, as a worker needs it."""

    id: str  # the user's step id, for failure reports
    ref: str  # "module:qualname"
    kind: str  # "map" | "reduce"
    args: Pairs = ()  # static arguments
    retries: int = 0  # extra attempts when the step raises
    fold: bool = False  # a reduce computed by its Fold (partial/combine/finish)


@dataclass(frozen=True)
class Chain:
    """The fused steps of a stage. ``fold`` set: the task returns a fold partial."""

    steps: tuple[ChainStep, ...]
    fold: ChainStep | None = None  # the downstream reduce folded per chunk
    spill_dir: str | None = None  # where image values leaving the worker are kept
    timeout: float | None = None  # seconds per item; None: no limit (fast paths allowed)
    # A tree: where each branch starts in ``steps`` (the trunk is everything before the
    # first); every branch runs on the trunk's value (see runner.execute.tree).
    branches: tuple[int, ...] = ()
    share: ChainStep | None = None  # prepares the trunk's value for all branches (one decode)
    share_heads: bool = False  # ``share`` also does each branch's first step: one value each
    root: str | None = None  # steps write files only below this folder (None: anywhere)


@dataclass(frozen=True)
class Task:
    """A chunk of a stage's items.

    Exactly one of ``items`` / ``span`` / ``partials`` is set:
    - ``items``: ``(offset, value, outs)`` where ``outs`` are per-item output
      arguments ``((step_position, arg_name, path), ...)`` or ``()``;
    - ``span``: numbers of a range input (:class:`Span`), offsets counting from 0;
    - ``partials``: fold partials of the upstream stage; the first chain step is
      that fold's reduce, finished here.
    """

    stage: str
    task_id: int
    chain: Chain
    items: tuple[tuple[int, Any, tuple], ...] | None = None
    span: Span | None = None
    partials: tuple[Any, ...] | None = None
    careful: bool = False  # run item by item with tracking (after a lost fast chunk)
    # A tree: ``(offset, branches)`` of items that run only those of its branches (the
    # others' outputs are up to date); an item not named runs them all.
    only: tuple[tuple[int, tuple[int, ...]], ...] = ()

    def size(self) -> int:
        """How many items this task holds."""
        if self.items is not None:
            return len(self.items)
        if self.span is not None:
            return self.span.count
        return 1


@dataclass(frozen=True)
class ItemFailure:
    """One item that failed: which, at which step, why, after how many attempts."""

    offset: int
    step: str
    reason: str  # one line: "ValueError: bad value"
    attempts: int = 1
    detail: str = ""  # the traceback text, for --verbose and the report
    branches: tuple[int, ...] = ()  # a tree: the branches that failed it (the others made it)


@dataclass(frozen=True)
class TaskResult:
    """What a worker sends back: small values, never pixels."""

    task_id: int
    values: tuple[tuple[int, Any], ...] = ()  # (offset, value) of items that came out
    partial: Any = None  # fold partial, when the chain folds
    failures: tuple[ItemFailure, ...] = ()
    dropped: int = 0  # items a filter step removed
    notes: tuple[str, ...] = ()  # e.g. "multi-frame file: first frame used"
    seconds: float = 0.0
    output: tuple[tuple[int, str], ...] = ()  # (offset, what it wrote or warned); -1: the task


@dataclass(frozen=True)
class Done:
    """A task finished (its items may still have failed one by one)."""

    task: Task
    result: TaskResult


@dataclass(frozen=True)
class Lost:
    """A task whose worker died or was ended for a timeout.

    ``offset`` is the item it was on when known (else None); ``reason`` says
    why in one line ("worker killed by SIGKILL", "timed out after 2 s").
    Items before ``offset`` may have been done; their results are gone.
    """

    task: Task
    offset: int | None
    reason: str
    timed_out: bool = False


Completion = Done | Lost


@dataclass(frozen=True)
class Running:
    """An item a worker is on: its task, its offset (None: somewhere in the task), and
    for how many seconds it has run."""

    task: Task
    offset: int | None
    seconds: float


class Completions:
    """Where an executor's threads leave completions until ``poll`` takes them (thread-safe)."""

    def __init__(self) -> None:
        self._q: queue.SimpleQueue[Completion] = queue.SimpleQueue()

    def put(self, c: Completion) -> None:
        """Leave one completion."""
        self._q.put(c)

    def take(self, timeout: float) -> list[Completion]:
        """Every completion left so far, waiting up to ``timeout`` s for the first."""
        try:
            out = [self._q.get(timeout=max(0.0, timeout))]
        except queue.Empty:
            return []
        while True:
            try:
                out.append(self._q.get_nowait())
            except queue.Empty:
                return out

    def clear(self) -> None:
        """Forget every completion left (after a cancel nobody reads them)."""
        self.take(0)


@dataclass(frozen=True)
class ExecutorOptions:
    """Settings every executor honours where it can."""

    workers: int = 1
    max_tasks_per_worker: int | None = None  # recycle a worker after this many tasks
    worker_memory_mb: int | None = None  # address-space cap per worker
    preload: tuple[str, ...] = ()  # modules workers import once at start
    extra_paths: tuple[str, ...] = field(default=())  # sys.path entries (the workflow's folder)
    scratch: str | None = None  # a folder of this run that every worker sees, or None


class Executor(ABC):
    """Runs tasks somewhere and says what became of each.

    The life of one: ``start``, then ``submit`` while fewer than ``capacity()`` tasks
    are in flight and ``poll`` for what came back, then ``close`` (or ``cancel``).
    """

    @abstractmethod
    def start(self, options: ExecutorOptions) -> None:
        """Bring up the workers."""

    @abstractmethod
    def capacity(self) -> int:
        """How many tasks may be in flight at once (at least 1): enough to keep every
        worker busy while results travel back, few enough that the parent holds only
        small values. It may change while the executor runs (a cluster grows)."""

    @abstractmethod
    def submit(self, task: Task) -> None:
        """Queue a task; returns at once."""

    @abstractmethod
    def poll(self, timeout: float) -> list[Completion]:
        """Completions since the last call, waiting up to ``timeout`` s for the first."""

    @abstractmethod
    def cancel(self) -> None:
        """Stop all work now: running tasks are abandoned, workers ended."""

    def width(self) -> int | None:
        """How many tasks run at once now, where that is not the run's own worker count
        (a cluster's threads, as its scheduler reports them); None where it is."""
        return None

    def running(self) -> list[Running]:
        """The items running now and for how long (so a stall shows without a
        timeout); none where the executor cannot tell."""
        return []

    @abstractmethod
    def close(self) -> None:
        """Release the workers after the run; no process may be left behind."""
