"""The scheduler's rules, in-process: real workflows, run on serial executors, events recorded.

Each test loads a workflow file, runs it with ``runner.run.orchestrate.run`` in this
process on :class:`SerialExecutor` s (so no pool, no subprocess per case) and a
reporter that records every event, then checks the rules of
:mod:`runner.run.scheduler`: stages start after their sources, serial stages go to the
serial executor, each stage holds its share of its executor's capacity, lost tasks
are retried or failed and their other items resent, ``on_error: stop``, skipped
counts, progress events and Ctrl-C. Losing a task takes a worker, which serial has
not: :class:`LosingExecutor` reports chosen tasks Lost, as a dead worker's executor would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runner.compile.build import load_workflow
from runner.execute.base import (
    Completion,
    Completions,
    Executor,
    ExecutorOptions,
    Lost,
    Task,
)
from runner.execute.serial import SerialExecutor
from runner.report.events import (
    Event,
    ItemFailed,
    RunFinished,
    RunResult,
    RunStarted,
    StageFinished,
    StageProgress,
    StageStarted,
)
from runner.run.orchestrate import RunOptions, run
from runner.run.scheduler import PROGRESS_EVERY
from tests import faults
from tests.conftest import make_photos


class Recorder:
    """A reporter that keeps every event."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def handle(self, event: Event) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def labels(self) -> dict[str, str]:
        """Stage id -> label, from RunStarted."""
        return {s.id: s.label for s in self.of(RunStarted)[0].stages}

    def order(self) -> list[tuple[str, str]]:
        """("started" | "finished", stage label) in the order they happened."""
        names = self.labels()
        return [("started" if isinstance(e, StageStarted) else "finished", names[e.stage])
                for e in self.events if isinstance(e, (StageStarted, StageFinished))]


class Watching(Executor):
    """A serial executor that remembers what it was given and how many results it held
    at most before they were polled (the tasks in flight)."""

    def __init__(self, capacity: int = 1) -> None:
        self.inner = SerialExecutor()
        self.room = capacity
        self.tasks: list[Task] = []
        self.held: dict[str, int] = {}  # stage -> most tasks in flight at once
        self._flying: dict[str, int] = {}

    def start(self, options: ExecutorOptions) -> None:
        self.inner.start(options)

    def capacity(self) -> int:
        return self.room

    def submit(self, task: Task) -> None:
        self.tasks.append(task)
        self._flying[task.stage] = self._flying.get(task.stage, 0) + 1
        self.held[task.stage] = max(self.held.get(task.stage, 0), self._flying[task.stage])
        self._run(task)

    def _run(self, task: Task) -> None:
        self.inner.submit(task)

    def poll(self, timeout: float) -> list[Completion]:
        got = self._take(timeout)
        for c in got:
            self._flying[c.task.stage] -= 1
        return got

    def _take(self, timeout: float) -> list[Completion]:
        return self.inner.poll(timeout)

    def cancel(self) -> None:
        self.inner.cancel()

    def close(self) -> None:
        self.inner.close()


class LosingExecutor(Watching):
    """Reports Lost, as for a dead worker, each task holding a value of ``values`` (as
    often as its count says) or of a stage of ``stages``. Like a worker's executor it
    names the item only when the task was run item by item (``careful``)."""

    def __init__(self, values: dict[Any, int] | None = None,
                 stages: dict[str, int] | None = None) -> None:
        super().__init__(capacity=4)
        self.values, self.stages = dict(values or {}), dict(stages or {})
        self.lost = Completions()

    def _run(self, task: Task) -> None:
        if self.stages.get(task.stage, 0) > 0:
            self.stages[task.stage] -= 1
            self.lost.put(Lost(task, None, "worker died"))
            return
        entries = enumerate(task.span) if task.span is not None else \
            ((o, v) for o, v, _ in task.items or ())
        for offset, value in entries:
            if self.values.get(value, 0) > 0:
                self.values[value] -= 1
                self.lost.put(Lost(task, offset if task.careful else None, "worker died"))
                return
        self.inner.submit(task)

    def _take(self, timeout: float) -> list[Completion]:
        return self.lost.take(0) + self.inner.poll(timeout)


def flow_run(tmp_path: Any, text: str, executors: dict[str, Executor] | None = None,
             **options: Any) -> tuple[RunResult, Recorder]:
    """Load ``text`` as wf.yaml in ``tmp_path`` and run it here; ``executors`` by kind
    ("serial", "local"), each a fresh SerialExecutor when not given."""
    (tmp_path / "wf.yaml").write_text(text)
    if "py:tests.faults" in text:
        faults.beside(tmp_path)  # py: reaches only the workflow's folder
    wf = load_workflow(str(tmp_path / "wf.yaml"), workdir=str(tmp_path))
    rec = Recorder()
    given = executors or {}
    make: Callable[[str, RunOptions], Executor] = \
        lambda kind, _: given.get(kind) or SerialExecutor()  # noqa: E731
    result = run(wf, rec, RunOptions(**options), make_executor=make)
    assert rec.events[-1] == RunFinished(result, rec.events[-1].t)
    return result, rec


def counts(result: RunResult) -> dict[str, tuple[str, int, int, int]]:
    """label -> (state, done, failed, skipped)."""
    return {s.label: (s.state, s.done, s.failed, s.skipped) for s in result.stages}


# -- stage order and which executor --------------------------------------------------------------

BRANCHES = """\
flow: 1
name: branches
inputs:
  xs: {range: {start: 0, stop: 10}}
steps:
  - {id: sq, from: xs, uses: numeric.square, parallel: {chunksize: 3}}
  - {id: cube, from: xs, uses: numeric.cube, parallel: {mode: serial}}
  - {id: both, from: [sq, cube], uses: numeric.sum, parallel: {mode: serial}}
"""


def test_a_stage_starts_when_its_sources_are_done_and_serial_stages_run_serially(tmp_path):
    pool, serial = Watching(capacity=4), Watching()
    result, rec = flow_run(tmp_path, BRANCHES, {"local": pool, "serial": serial})
    assert result.state == "done" and result.values == {"both": sum(i * i + i ** 3
                                                                   for i in range(10))}
    order = rec.order()
    # The two independent stages start together; the sum after both are finished.
    assert order[:2] == [("started", "sq"), ("started", "cube")]
    assert order.index(("started", "both")) > max(order.index(("finished", "sq")),
                                                  order.index(("finished", "cube")))
    names = rec.labels()
    assert {names[t.stage] for t in pool.tasks} == {"sq"}
    assert {names[t.stage] for t in serial.tasks} == {"cube", "both"}
    assert serial.held == {t.stage: 1 for t in serial.tasks}  # one serial task at a time


def test_each_stage_holds_its_share_of_its_executors_capacity(tmp_path):
    pool = Watching(capacity=6)
    result, rec = flow_run(tmp_path, """\
flow: 1
name: shares
inputs:
  xs: {range: {start: 0, stop: 40}}
steps:
  - {id: wide, from: xs, uses: numeric.square, parallel: {workers: 2, chunksize: 1}}
  - {id: narrow, from: xs, uses: numeric.cube, parallel: {workers: 1, chunksize: 1}}
""", {"local": pool}, jobs=2)
    names = rec.labels()
    assert result.state == "done" and len(pool.tasks) == 80
    # 6 in flight for the widest stage (2 workers), half of it for the one with 1 worker
    assert {names[s]: n for s, n in pool.held.items()} == {"wide": 6, "narrow": 3}


# -- lost tasks ------------------------------------------------------------------------------------

RETRY_WF = """\
flow: 1
name: lost
inputs:
  xs: {values: [10, 11, 12, 13, 14, 15]}
steps:
  - {id: sq, from: xs, uses: numeric.square, retries: %d, parallel: {chunksize: 3}}
  - {id: keep, uses: io.write, with: {to: out.json, as_list: true}}
"""


def test_a_lost_item_is_retried_and_the_rest_of_its_task_is_sent_again(tmp_path):
    ex = LosingExecutor(values={13: 2})
    result, rec = flow_run(tmp_path, RETRY_WF % 1, {"local": ex})
    assert result.state == "done" and result.failures == ()
    assert (tmp_path / "out.json").read_text().split() == \
        ["[", "100,", "121,", "144,", "169,", "196,", "225", "]"]
    assert counts(result)["sq"] == ("done", 6, 0, 0)
    # Lost without an item named: the task went again item by item, which named 13
    # (its first attempt); its retry went with the rest of the task.
    again = [[v for _, v, _ in t.items] for t in ex.tasks if t.careful]
    assert again == [[13, 14, 15], [13, 14, 15]]


def test_a_lost_item_without_retries_fails_alone(tmp_path):
    ex = LosingExecutor(values={13: 2})
    result, rec = flow_run(tmp_path, RETRY_WF % 0, {"local": ex})
    assert result.state == "failed" and result.exit_code == 1
    assert [(f.item, f.reason, f.attempts) for f in result.failures] == \
        [("item 3 (13)", "worker died", 1)]
    assert [(e.item, e.reason) for e in rec.of(ItemFailed)] == [("item 3 (13)", "worker died")]
    assert counts(result)["sq"] == ("partial", 5, 1, 0)  # some of its items failed
    assert "169" not in (tmp_path / "out.json").read_text()


def test_a_lost_number_of_a_range_is_named_with_its_value(tmp_path):
    ex = LosingExecutor(values={0.7000000000000001: 2})
    result, _ = flow_run(tmp_path, """\
flow: 1
name: tenths
inputs:
  xs: {range: {start: 0, stop: 2, step: 0.1}}
steps:
  - {id: same, from: xs, uses: numeric.abs, parallel: {chunksize: 4}}
""", {"local": ex})
    assert [(f.item, f.attempts) for f in result.failures] == \
        [("item 7 (0.7000000000000001)", 1)]
    assert counts(result)["same"] == ("partial", 19, 1, 0)


def test_a_lost_reduce_is_retried_whole_then_fails_whole(tmp_path):
    text = """\
flow: 1
name: total
inputs:
  xs: {values: [1, 2, 3]}
steps:
  - {id: total, from: xs, uses: numeric.sum, retries: 1}
"""
    result, _ = flow_run(tmp_path, text, {"local": LosingExecutor(stages={"s1": 1})})
    assert result.state == "done" and result.values == {"total": 6}
    # --force: the sum is up to date after the first run and would be skipped.
    result, _ = flow_run(tmp_path, text, {"local": LosingExecutor(stages={"s1": 2})},
                         force=True)
    assert [(f.item, f.reason, f.attempts) for f in result.failures] == \
        [("total (all 3 items)", "worker died", 2)]


def test_a_lost_chunk_of_a_folded_range_is_sent_again_whole_and_the_sum_is_right(tmp_path):
    text = """\
flow: 1
name: total
inputs:
  xs: {range: {start: 0, stop: 10}}
steps:
  - {id: total, from: xs, uses: numeric.sum, retries: 1, parallel: {chunksize: 3}}
"""
    ex = LosingExecutor(values={4: 1})  # the chunk holding 3, 4 and 5, once
    result, _ = flow_run(tmp_path, text, {"local": ex})
    assert result.state == "done" and result.values == {"total": 45}
    assert [list(t.span) for t in ex.tasks if t.careful] == [[3, 4, 5]]
    ex = LosingExecutor(values={4: 2})
    result, _ = flow_run(tmp_path, text, {"local": ex}, force=True)
    assert [(f.item, f.reason, f.attempts) for f in result.failures] == \
        [("total (all 10 items)", "worker died", 2)]
    assert not any(t.partials for t in ex.tasks)  # a reduce that failed is not finished


# -- on_error: stop, Ctrl-C ------------------------------------------------------------------------

def test_on_error_stop_ends_the_run_at_the_first_failure_and_cancels_the_rest(tmp_path):
    result, rec = flow_run(tmp_path, """\
flow: 1
name: stop
inputs:
  xs: {range: {start: 0, stop: 50}}
steps:
  - id: bad
    from: xs
    uses: py:tests.faults:fail_at
    with: {at: 5}
    on_error: stop
    parallel: {mode: serial, chunksize: 2}
  - {id: total, uses: numeric.sum, parallel: {mode: serial}}
""")
    assert result.state == "stopped" and result.exit_code == 1
    assert result.stopped_by is not None and result.stopped_by.item == "item 5 (5)"
    assert [e.item for e in rec.of(ItemFailed)] == ["item 5 (5)"]
    state, done, failed, _ = counts(result)["bad"]
    assert (state, failed) == ("cancelled", 1) and done <= 5  # nothing after the failing task
    assert counts(result)["total"][0] == "cancelled"
    assert ("started", "total") not in rec.order()


def test_ctrl_c_in_a_serial_step_interrupts_the_run_and_cancels_every_stage(tmp_path):
    result, rec = flow_run(tmp_path, """\
flow: 1
name: interrupted
inputs:
  xs: {range: {start: 0, stop: 20}}
steps:
  - id: slow
    from: xs
    uses: py:tests.faults:kill_at
    with: {at: 4, sig: SIGINT}
    parallel: {mode: serial, chunksize: 1}
  - {id: total, uses: numeric.sum, parallel: {mode: serial}}
""")
    assert result.state == "interrupted" and result.exit_code == 130
    assert counts(result)["slow"][:2] == ("cancelled", 4)  # the items before Ctrl-C were done
    assert counts(result)["total"][0] == "cancelled"
    assert rec.of(ItemFailed) == []  # the user's Ctrl-C is no item's failure


# -- skipped items and progress --------------------------------------------------------------------

SAVE_WF = """\
flow: 1
name: thumbs
inputs:
  photos: {glob: "photos/*.jpg"}
steps:
  - {id: small, from: photos, uses: image.thumbnail, with: {size: 32}}
  - {id: save, uses: image.save, with: {to: "thumbs/{stem}.png"}}
  - {id: count, uses: io.write, with: {to: "made.json", as_list: true}}
"""


def test_up_to_date_items_are_skipped_counted_and_still_passed_on(tmp_path):
    make_photos(tmp_path / "photos", count=4, size=(160, 120))
    first, _ = flow_run(tmp_path, SAVE_WF)
    assert counts(first)["small→save"] == ("done", 4, 0, 0)
    again, rec = flow_run(tmp_path, SAVE_WF)
    assert counts(again)["small→save"] == ("done", 0, 0, 4)
    [finished] = [e for e in rec.of(StageFinished) if rec.labels()[e.stage] == "small→save"]
    assert (finished.done, finished.skipped) == (0, 4)
    made = (tmp_path / "made.json").read_text()
    assert made.count(".png") == 4  # the skipped items' outputs still went downstream


def test_progress_events_count_up_to_the_final_counts_at_most_every_tenth_second(tmp_path):
    result, rec = flow_run(tmp_path, """\
flow: 1
name: progress
inputs:
  xs: {range: {start: 0, stop: 3000}}
steps:
  - id: sq
    from: xs
    uses: py:tests.faults:fail_at
    with: {at: [7, 2500]}
    parallel: {mode: serial, chunksize: 10}
  - {id: total, uses: numeric.sum, parallel: {mode: serial}}
""")
    names = rec.labels()
    progress = [e for e in rec.of(StageProgress) if names[e.stage] == "sq"]
    done = [e.done for e in progress]
    assert done == sorted(done) and done[-1] == 2998
    assert (progress[-1].failed, progress[-1].total) == (2, 3000)
    started = next(e.t for e in rec.of(StageStarted) if names[e.stage] == "sq")
    seconds = progress[-1].t - started
    assert len(progress) <= seconds / PROGRESS_EVERY + 2  # throttled, plus the final one
    assert result.values == {"total": sum(i for i in range(3000) if i not in (7, 2500))}
