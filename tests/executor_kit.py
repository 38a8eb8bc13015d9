"""Helpers shared by the executor tests (the contract suite, local and Dask specifics)."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from runner.execute.base import Chain, ChainStep, Completion, Executor, ExecutorOptions
from tests import faults

try:
    import distributed  # noqa: F401 - only: can it be imported?

    NO_DASK = ""
except ImportError as exc:
    NO_DASK = f'dask.distributed cannot be imported ({exc}); pip install ".[dask]"'
# Every executor the contract suite runs against; Dask only where it can be imported.
KINDS = ["serial", "local",
         pytest.param("dask", marks=pytest.mark.skipif(bool(NO_DASK), reason=NO_DASK))]


def chain(*steps: tuple[str, dict[str, Any]], timeout: float | None = None,
          retries: int = 0) -> Chain:
    """A chain of fault steps: ("name", {args}) each; a name may be "module:function"."""
    return Chain(tuple(ChainStep(f"s{i}_{name.rpartition(':')[2]}",
                                 name if ":" in name else faults.ref(name), "map",
                                 tuple(args.items()), retries)
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


def wait_for(pred: Any, timeout: float = 5.0) -> None:
    """Wait until ``pred()`` is true; fails after ``timeout`` s."""
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.01)


def start_executor(kind: str, workers: int = 2, **options: Any) -> Executor:
    """A started executor of ``kind`` ("serial", "local", "dask"), made as ``flow run`` makes
    it, whose workers can import the fault steps."""
    from runner.run.orchestrate import RunOptions, new_executor

    ex = new_executor(kind, RunOptions(executor=kind))
    preload = (faults.MODULE,) if kind == "local" else ()
    ex.start(ExecutorOptions(workers=workers, extra_paths=(faults.import_root(),),
                             preload=preload, **options))
    return ex


# -- a step for retries (a worker imports it as tests.executor_kit:fail_first) ---------------------

FAIL_FIRST = f"{__name__}:fail_first"


def fail_first(value: Any, flag: str, at: Any = None) -> Any:
    """Raise ValueError the first time ``value == at`` (``flag`` file records it), then pass."""
    if at is None or value == at:
        try:
            fd = os.open(flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return value
        os.close(fd)
        raise ValueError(f"first attempt at {value} fails")
    return value
