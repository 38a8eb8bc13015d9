"""Helpers shared by the executor contract tests (local and Dask)."""

from __future__ import annotations

import time
from typing import Any

from runner.execute.base import Chain, ChainStep, Completion, Executor
from tests import faults


def chain(*steps: tuple[str, dict[str, Any]], timeout: float | None = None) -> Chain:
    """A chain of fault steps: ("name", {args}) each."""
    return Chain(tuple(ChainStep(f"s{i}_{name}", faults.ref(name), "map", tuple(args.items()))
                       for i, (name, args) in enumerate(steps)), timeout=timeout)


def items(values: Any, first: int = 0) -> tuple[tuple[int, Any, tuple], ...]:
    """Task items ``(offset, value, ())`` numbered from ``first``."""
    return tuple((first + i, v, ()) for i, v in enumerate(values))


def wait_all(ex: Executor, count: int, timeout: float = 8.0) -> dict[int, Completion]:
    """Poll until ``count`` completions arrived; by task id. Fails on a hang or a repeat."""
    got: dict[int, Completion] = {}
    end = time.monotonic() + timeout
    while len(got) < count:
        left = end - time.monotonic()
        assert left > 0, f"hung: {len(got)} of {count} tasks came back: {sorted(got)}"
        for c in ex.poll(min(left, 0.2)):
            assert c.task.task_id not in got, f"task {c.task.task_id} reported twice"
            got[c.task.task_id] = c
    return got
