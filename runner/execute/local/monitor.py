"""The local pool's watchman: a thread that looks at the workers every 50 ms.

Each tick it reads the pool's list of started workers and the shared slot
table (:mod:`runner.execute.local.slots`) and decides, for the executor that owns it:

- a worker that died holding a task: that task is lost, at the item it was on;
- an item running past its chain's timeout: SIGKILL its worker, the task is lost;
- a worker found stopped (SIGSTOP, state T): continued; stopped again and again on
  one task, it is ended and the task lost with that reason (nothing waits for ever);
- a worker that died after returning, whose result never came: lost after a grace;
- a task taken from the queue by a worker that died before saying so: lost;
- workers dying before they run anything, again and again, or the pool's own
  threads dead: the pool is failed (the executor replaces it or gives up).

It never waits on the pool and never raises; the owner does the reporting.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from runner.execute.base import Task
from runner.execute.local import slots
from runner.execute.local.pool import EXIT_CUT_OFF, HardenedPool, exit_status, handlers_alive
from runner.procs import kill_group, stopped

TICK = 0.05  # seconds between looks
RESULT_GRACE = 2.0  # a worker that died after returning: wait this long for its result
ORPHAN_GRACE = 3.0  # see Monitor._find_orphans
STARTUP_FAILURES = 5  # fresh workers dying in a row before running anything: pool broken
MAX_STOPS = 3  # times a worker is continued on one task before it is ended
STOPPED = "the worker stopped itself (SIGSTOP) again and again; ended"


@dataclass
class Job:
    """A submitted task the executor still waits for."""

    task: Task
    seq: int  # the executor's submission number, written by the worker into its slot
    submitted: float  # time.monotonic()
    pool: HardenedPool
    result: Any = None  # the pool's AsyncResult, once apply_async returned
    unheld_since: float | None = None  # monitor: first tick it was in no slot


class Owner(Protocol):
    """What the monitor needs from the executor."""

    def current_pool(self) -> HardenedPool | None: ...

    def jobs(self) -> list[Job]: ...

    def job(self, seq: int) -> Job | None: ...

    def lose(self, seq: int, offset: int | None, reason: str, timed_out: bool = False) -> bool: ...

    def fail_pool(self, why: str, restart: bool = True) -> None: ...


@dataclass
class _State:
    killed: dict[int, int] = field(default_factory=dict)  # pid -> seq we ended for a timeout
    stops: dict[tuple[int, int], int] = field(default_factory=dict)  # (pid, seq) -> times
    suspects: dict[int, tuple[float, str]] = field(default_factory=dict)  # seq -> (deadline, why)
    last_death: float | None = None
    startup_failures: int = 0


CUT_OFF = "the step closed the worker's connection to flow (its files)"


def death_reason(code: int) -> str:
    """"worker killed by SIGKILL" / "worker exited with code 3", from an exit status."""
    if code == EXIT_CUT_OFF:
        return CUT_OFF
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"worker killed by {name}"
    return f"worker exited with code {code}"


class Monitor:
    """Watches the owner's current pool from a daemon thread; see the module docstring."""

    def __init__(self, owner: Owner) -> None:
        self._owner = owner
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._st = _State()

    def start(self) -> None:
        """Start watching."""
        self._thread = threading.Thread(target=self._run, name="flow-pool-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching; returns when no tick is in flight (or after 0.5 s)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(0.5)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def reset(self) -> None:
        """Forget what was learned about the previous pool (it has been replaced)."""
        self._st = _State()

    def task_ran(self) -> None:
        """A task came back: workers do start, whatever died before."""
        self._st.startup_failures = 0

    def _run(self) -> None:
        while not self._stop.wait(TICK):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the monitor must outlive any surprise
                time.sleep(TICK)

    def tick(self) -> None:
        """One look at the pool."""
        pool = self._owner.current_pool()
        if pool is None:
            return
        now = time.monotonic()
        self._reap(pool, now)
        views = slots.views(pool.table)
        self._continue_stopped(pool, views)
        self._enforce_timeouts(pool.table, views, now)
        self._expire_suspects(now)
        self._find_orphans(views, now)
        if (not self.stopped and self._owner.current_pool() is pool
                and not handlers_alive(pool)):
            self._owner.fail_pool("the worker pool failed (a worker died while sending a result)")

    def _reap(self, pool: HardenedPool, now: float) -> None:
        """Handle each worker the pool has found dead since the last tick."""
        st, table, broken = self._st, pool.table, None
        for proc in pool.started():
            code = exit_status(proc)
            if code is None:
                continue
            pool.forget_process(proc)
            why = death_reason(code)
            view = next((v for v in (slots.read(table, i, writer_dead=True)
                                     for i in range(len(table)))
                         if v is not None and v.pid == proc.pid), None)
            killed_seq = st.killed.pop(proc.pid, None)
            if code != 0:
                st.last_death = now
                if view is None or view.seq < 0:  # died before running any task
                    st.startup_failures += 1
                    if st.startup_failures >= STARTUP_FAILURES:
                        broken = f"workers fail to start ({why})"
            if view is None:
                continue
            if view.seq >= 0:
                st.startup_failures = 0
            slots.release(table, view.index, proc.pid)
            if view.seq == killed_seq:
                continue  # reported already, as timed out
            if view.state == slots.RUNNING:
                self._owner.lose(view.seq, view.offset if view.offset >= 0 else None, why)
            elif view.state == slots.RETURNED and code == EXIT_CUT_OFF:
                self._owner.lose(view.seq, None, why)  # it could not send its result
            elif view.state == slots.RETURNED:
                # Its result may still be on the way (a recycled worker exits right after
                # sending it): give it a moment before calling the task lost.
                st.suspects[view.seq] = (now + RESULT_GRACE, why)
        if broken is not None:  # e.g. the parent's script kills every worker that imports it
            self._owner.fail_pool(broken, restart=False)

    def _continue_stopped(self, pool: HardenedPool, views: list[slots.SlotView]) -> None:
        """SIGCONT a stopped worker (a stopped one may hold a queue lock: all would wait);
        one stopped again and again on a task is ended, the task lost."""
        held = {v.pid: v for v in views}
        for proc in pool.started():
            if not proc.pid or not stopped(proc.pid):
                continue
            v = held.get(proc.pid)
            seq = v.seq if v is not None and v.state == slots.RUNNING else -1
            key = (proc.pid, seq)
            self._st.stops[key] = times = self._st.stops.get(key, 0) + 1
            if seq < 0 or times <= MAX_STOPS:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGCONT)
                continue
            with contextlib.suppress(ProcessLookupError):
                kill_group(proc.pid, signal.SIGKILL)
            self._st.killed[proc.pid] = seq
            assert v is not None
            self._owner.lose(seq, v.offset if v.offset >= 0 else None, STOPPED)

    def _enforce_timeouts(self, table: Any, views: list[slots.SlotView], now: float) -> None:
        for v in views:
            if v.state != slots.RUNNING:
                continue
            job = self._owner.job(v.seq)
            limit = job.task.chain.timeout if job is not None else None
            if not limit or now - v.start <= limit:
                continue
            again = slots.read(table, v.index)
            if again is None or again.gen != v.gen or again.pid != v.pid:
                continue  # it moved on meanwhile
            try:
                kill_group(v.pid, signal.SIGKILL)  # with what its step started
            except ProcessLookupError:
                continue  # it died on its own: _reap reports it
            self._st.killed[v.pid] = v.seq
            self._owner.lose(v.seq, v.offset if v.offset >= 0 else None,
                             f"timed out after {limit:g} s", timed_out=True)

    def _expire_suspects(self, now: float) -> None:
        st = self._st
        for seq, (deadline, why) in list(st.suspects.items()):
            if self._owner.job(seq) is None:
                del st.suspects[seq]
            elif now >= deadline:
                del st.suspects[seq]
                self._owner.lose(seq, None, f"{why} while sending its result")

    def _find_orphans(self, views: list[slots.SlotView], now: float) -> None:
        """Tasks a worker took from the queue but died before saying so in its slot.

        The window is short (reading and unpickling the task), but a task lost there
        would be waited for for ever. A worker that has waited for work for the last
        ORPHAN_GRACE s shows the task queue was empty all that time; so a task submitted
        before then, before a worker death, and not seen in any slot since, was taken by
        a worker that is gone.
        """
        st = self._st
        if st.last_death is None or now - st.last_death > 60:
            return
        waiting = [v.start for v in views if v.state == slots.WAITING]
        if not waiting:
            return
        waiting_since = min(waiting)
        held = {v.seq for v in views if v.state in (slots.RUNNING, slots.RETURNED)}
        for job in self._owner.jobs():
            if job.seq in held or job.seq in st.suspects:
                job.unheld_since = None
                continue
            if job.unheld_since is None:
                job.unheld_since = now
            if (max(waiting_since, job.submitted) <= now - ORPHAN_GRACE
                    and job.submitted < st.last_death
                    and now - job.unheld_since >= ORPHAN_GRACE):
                self._owner.lose(job.seq, None, "worker died as it took the task")
