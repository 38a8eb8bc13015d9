"""The Dask executor: tasks on a ``dask.distributed`` cluster (SPEC section 5).

With an address flow connects to that scheduler; without, it starts a LocalCluster of
single-thread worker processes on 127.0.0.1 and ends it after the run
(:mod:`runner.execute.dask.cluster`). Tasks travel pickled, a few per Dask submission
when they are small (:mod:`runner.execute.dask.jobs`); a worker runs them with
:func:`runner.execute.dask.task.run_on_worker` and sends back results pickled by
:func:`runner.execute.wire.pack`, so a value that cannot travel fails its item.
Completions come through future callbacks into a queue that ``poll`` drains.

Dead workers and timeouts are the nannies' business, wherever they run: each run
registers its own :class:`runner.execute.dask.watch.Watch` on every nanny (and removes
it when it ends), which names the item a dead worker held, ends a worker past an item's
timeout (its nanny starts it again) and names the items that run long, on the run's
event topic. Flow's monitor thread turns that news into :class:`Lost` completions and
what :meth:`DaskExecutor.running` says. A submission whose future fails without news for
:data:`NEWS_WAIT` seconds lost a worker that left whole (nanny and all): it is sent
again; on a cluster with workers that have no nanny it is lost without an item.

dask is imported only when an executor starts: without it, a FlowError, not a traceback.
"""

from __future__ import annotations

import contextlib
import pickle
import queue
import threading
import time
import uuid
from typing import Any

from runner.errors import FlowError
from runner.execute.base import (
    Completion,
    Completions,
    Done,
    Executor,
    ExecutorOptions,
    Lost,
    Running,
    Task,
)
from runner.execute.chain import reason_of
from runner.execute.dask import cluster as clusters
from runner.execute.dask import jobs
from runner.execute.dask.jobs import Batch
from runner.execute.dask.records import forget, marks_dir
from runner.execute.wire import fail_all, unpack

__all__ = ["DaskExecutor"]

MONITOR_EVERY = 0.05  # seconds between the monitor's looks at what is overdue
THREADS_EVERY = 1.0  # seconds between asking the scheduler how many threads its workers have
NEWS_WAIT = 3.0  # seconds a failed submission waits for its watcher's word
MAX_REQUEUE = 3  # resends of a task lost through no fault of its own
NEEDS_DASK = 'the dask executor needs dask: pip install "flow[dask]"'


class DaskExecutor(Executor):
    """Runs tasks on a Dask cluster (see the module docstring); ``address`` None: on a
    LocalCluster of ``options.workers`` single-thread processes on 127.0.0.1."""

    def __init__(self, address: str | None = None) -> None:
        self.address = address
        self._cluster: clusters.Cluster | None = None
        self._out = Completions()
        self._lock = threading.Lock()  # guards _pending, _buffer, _requeued
        self._pending: dict[str, Batch] = {}  # by Dask key
        self._buffer: dict[str, list[tuple[Task, bytes]]] = {}  # by stage: not yet sent
        self._requeued: dict[tuple[str, int], int] = {}
        self._dead: set[str] = set()  # workers the watchers said died
        # nanny -> when its watcher last said which items run long there, and those items
        self._slow: dict[str, tuple[float, list[Any]]] = {}
        self._sizer = jobs.Sizer()
        self._news: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._run = uuid.uuid4().hex[:12]
        self._paths: tuple[str, ...] = ()
        self._marks: str | None = None
        self._stop = threading.Event()
        self._closed = False
        self._workers = 1  # what flow asked for: the capacity when the cluster says nothing
        self._threads = 0  # the cluster's worker threads, as its scheduler last reported them
        self.startup_seconds = 0.0  # how long start() took (cluster and connection)

    # -- life --------------------------------------------------------------------------------
    def start(self, options: ExecutorOptions) -> None:
        """Connect to ``address`` or start a local cluster; a FlowError if that fails."""
        t0 = time.perf_counter()
        try:
            import distributed  # noqa: F401 - only: is it there?
        except ImportError:
            raise FlowError.single(NEEDS_DASK, file="command line") from None
        self._paths = tuple(options.extra_paths)
        self._workers = max(1, options.workers)
        self._marks = marks_dir(options.scratch)
        clusters.quiet_logs()
        try:
            if self.address is None:
                with clusters.sigint_blocked():
                    self._cluster = clusters.start_local(options)
            else:
                self._cluster = clusters.connect(self.address)
            self._watch()
            with contextlib.suppress(Exception):  # not known: the fallback of capacity()
                self._threads = self._cluster.threads()
        except Exception as exc:  # noqa: BLE001 - the user's address, or this machine
            self._shutdown()
            where = f"the Dask scheduler at {self.address}" if self.address else \
                "a local Dask cluster"
            raise FlowError.single(f"cannot use {where}: {reason_of(exc)}",
                                   file="command line") from None
        except BaseException:  # Ctrl-C while it started: nothing may be left behind
            self._cancel_cluster()
            raise
        threading.Thread(target=self._monitor, name="flow-dask-monitor", daemon=True).start()
        self.startup_seconds = time.perf_counter() - t0

    def _watch(self) -> None:
        from runner.execute.dask.watch import Watch, name, topic

        assert self._cluster is not None
        client = self._cluster.client
        client.subscribe_topic(topic(self._run), self._on_news)
        client.register_plugin(Watch(self._run), name=name(self._run))

    def capacity(self) -> int:
        """Two submissions per worker thread the scheduler reports (one running, one
        waiting), each of as many tasks as the stage's small tasks need; before any worker
        has joined, or if the scheduler cannot say, per worker asked for."""
        return 2 * (self._threads or self._workers) * self._sizer.widest()

    def width(self) -> int | None:
        """The cluster's worker threads as its scheduler last reported them (None before
        any worker joined)."""
        return self._threads or None

    def submit(self, task: Task) -> None:
        """Queue ``task`` for the cluster; it leaves at the latest at the next ``poll``."""
        if self._cluster is None or self._closed:
            raise RuntimeError("DaskExecutor is not running")
        try:  # here: a task that does not pickle fails at once, not in Dask's loop
            payload = pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - anything a value's __reduce__ may raise
            self._out.put(Done(task, fail_all(
                task, f"task could not be passed to a worker: {reason_of(exc)}")))
            return
        with self._lock:
            waiting = self._buffer.setdefault(task.stage, [])
            waiting.append((task, payload))
            full = len(waiting) >= self._sizer.batch(task.stage) * (self._threads or 1)
        if full:
            self._flush()

    def poll(self, timeout: float) -> list[Completion]:
        """Completions since the last call, waiting up to ``timeout`` s for the first."""
        self._flush()
        return self._out.take(timeout)

    def _flush(self) -> None:
        """Send what ``submit`` queued, in submissions of the stage's batch size."""
        with self._lock:
            buffered, self._buffer = self._buffer, {}
        parts = [part for stage, entries in buffered.items()
                 for part in jobs.split(entries, self._sizer.batch(stage), self._threads or 1)]
        if parts:
            self._send([[t for t, _ in part] for part in parts],
                       [[p for _, p in part] for part in parts])

    def _send(self, groups: list[list[Task]], payloads: list[list[bytes]]) -> None:
        """One Dask submission per group of tasks, all in one message to the scheduler."""
        from runner.execute.dask.task import Ticket, run_on_worker

        cluster = self._cluster
        if cluster is None or self._closed:
            return
        batches, tickets = [], []
        for tasks in groups:
            key = f"flow-{tasks[0].stage}-{tasks[0].task_id}-{uuid.uuid4().hex[:8]}"
            batches.append(Batch(key, tuple(tasks)))
            tickets.append(Ticket(self._run, key, self._marks, self._paths,
                                  tuple((t.task_id, t.chain.timeout) for t in tasks)))
        with self._lock:
            for batch in batches:
                self._pending[batch.key] = batch
            futures = cluster.client.map(run_on_worker, [tuple(p) for p in payloads], tickets,
                                         key=[b.key for b in batches], pure=False)
            for batch, future in zip(batches, futures, strict=True):
                batch.future = future
        for future in futures:
            future.add_done_callback(self._on_done)

    def cancel(self) -> None:
        """Stop now: tasks in flight are abandoned (never reported), the workers running
        them ended (their nannies start new ones)."""
        self._closed = True
        self._stop.set()
        with self._lock:
            batches = list(self._pending.values())
            self._pending.clear()
            self._buffer.clear()
        self._out.clear()
        cluster = self._cluster
        if cluster is not None and cluster.local is None and batches:
            from runner.execute.dask.watch import end_run

            with contextlib.suppress(Exception):  # the cluster may be gone already
                cluster.client.cancel([b.future for b in batches], force=True)
            with contextlib.suppress(Exception):  # a running thread cannot be stopped:
                cluster.client.run(end_run, self._run, nanny=True, on_error="ignore")
        self._cancel_cluster()

    def _cancel_cluster(self) -> None:
        if self._cluster is not None:
            self._cluster.end_own_workers()  # flow's own: at once, not in an orderly close
        self._shutdown()

    def close(self) -> None:
        """End the local cluster (or disconnect); with tasks still pending, a cancel()."""
        with self._lock:
            busy = bool(self._pending)
        if busy and not self._closed:
            self.cancel()
            return
        self._closed = True
        self._stop.set()
        if self._cluster is not None:  # flow's own workers are idle: no orderly goodbye
            self._cluster.end_own_workers()
        self._shutdown(tidy=True)

    def _shutdown(self, tidy: bool = False) -> None:
        """Disconnect, or end flow's own cluster; on someone else's, first remove this
        run's watcher from every nanny and, ``tidy``, this run's records from every
        worker's host (the records of tasks that returned are gone already)."""
        cluster, self._cluster = self._cluster, None
        if cluster is None:
            return
        from runner.execute.dask.watch import name

        cluster.drop_plugin(name(self._run), timeout=2.0 if tidy else 0.5)
        if tidy and cluster.local is None:
            with contextlib.suppress(Exception):
                cluster.client.run(forget, self._run, on_error="ignore")
        cluster.close()
        forget(self._run)  # flow's own workers wrote on this host

    # -- completions ---------------------------------------------------------------------------
    def _claim(self, key: str) -> Batch | None:
        with self._lock:
            return self._pending.pop(key, None)

    def _on_done(self, future: Any) -> None:
        """A submission's future settled (Dask's callback thread: must never raise)."""
        with contextlib.suppress(BaseException):
            with self._lock:
                batch = self._pending.get(future.key)
            if batch is None or batch.error is not None:
                return  # lost already (the watcher told), or cancelled
            if future.status == "finished":
                try:
                    results = future.result()
                except BaseException:  # noqa: BLE001 - its worker died before we had it
                    if self._claim(future.key) is not None:
                        self._resend(list(batch.tasks))
                    return
                if self._claim(future.key) is None:
                    return
                for task, payload in zip(batch.tasks, results, strict=True):
                    result = unpack(payload, task)
                    self._sizer.learn(task.stage, result.seconds)
                    self._out.put(Done(task, result))
                return
            exc = future.exception() if future.status == "error" else None
            if _worker_lost(exc):  # the watcher has more to say: which task, which item
                worker = getattr(getattr(exc, "last_worker", None), "address", "")
                with self._lock:
                    innocent = bool(worker) and worker in self._dead
                    if not innocent:
                        batch.error, batch.worker = "worker died", worker
                        batch.deadline = time.monotonic() + NEWS_WAIT
                if innocent and self._claim(future.key) is not None:
                    self._resend(list(batch.tasks))  # it waited there, never began
                return
            if self._claim(future.key) is not None:
                why = reason_of(exc) if exc is not None else future.status
                batch.error = f"lost on the Dask cluster: {why}"
                for lost in jobs.settle_silence(batch):
                    self._out.put(lost)

    def _on_news(self, event: Any) -> None:
        """A watcher's word (the client's event loop: only queue it)."""
        with contextlib.suppress(BaseException):
            self._news.put(event[1])

    def _monitor(self) -> None:
        asked = time.monotonic()
        while not self._stop.is_set():
            try:
                news = self._news.get(timeout=MONITOR_EVERY)
            except queue.Empty:
                news = None
            with contextlib.suppress(Exception):  # one bad look must not end the watch
                if news is not None:
                    self._heard(news)
                self._overdue(time.monotonic())
            if time.monotonic() - asked >= THREADS_EVERY:  # workers come and go
                asked = time.monotonic()
                with contextlib.suppress(Exception):  # keep the last count
                    if self._cluster is not None:
                        self._threads = self._cluster.threads()

    def running(self) -> list[Running]:
        """The items that have run a second or more, as the watchers in the nannies last
        said (see Executor.running); an item that has run less is not named."""
        with self._lock:
            return jobs.running(self._slow.values(), self._pending, time.monotonic())

    def _heard(self, news: dict[str, Any]) -> None:
        """A watcher's word: tasks lost at an item (a death or a timeout), and on a death,
        which worker died (what else failed there never began: it is sent again); or
        which items run long on its worker."""
        if self._closed:
            return
        if news.get("why") == "running":
            with self._lock:
                self._slow[str(news.get("nanny"))] = (time.monotonic(),
                                                      list(news.get("running", ())))
            return
        limit = news.get("limit") if news.get("why") == "timeout" else None
        for key, task_id, offset in news.get("lost", ()):
            batch = self._claim(str(key))
            if batch is None:
                continue  # it came back meanwhile
            lost, again = jobs.settle_news(batch, task_id, offset, limit)
            for c in lost:
                self._out.put(c)
            self._resend(again)
            self._forget(batch)
        for key, _, _ in news.get("again", ()):  # innocent: a timeout ended their worker
            if (batch := self._claim(str(key))) is not None:
                self._resend(list(batch.tasks))
                self._forget(batch)
        worker = news.get("worker")
        if news.get("why") == "died" and worker:
            with self._lock:
                self._dead.add(worker)
                waited = [b.key for b in self._pending.values() if b.error and b.worker == worker]
            for key in waited:
                if (batch := self._claim(key)) is not None:
                    self._resend(list(batch.tasks))

    def _forget(self, batch: Batch) -> None:
        """Cancel a lost submission's future: a scheduler that ran it again would only be
        refused (DiedBefore)."""
        with contextlib.suppress(Exception):
            if self._cluster is not None:
                self._cluster.client.cancel([batch.future], force=True)

    def _overdue(self, now: float) -> None:
        """Submissions whose worker died and whose watcher said nothing in time. Where every
        worker has a nanny, the nanny went too: the worker left whole, through no fault of
        the task, which runs again elsewhere. Else its items are found one by one."""
        with self._lock:
            late = [b for b in self._pending.values() if b.error and b.deadline <= now]
        for batch in late:
            if self._claim(batch.key) is None:
                continue
            if self._cluster is not None and self._cluster.all_nannies():
                self._resend(list(batch.tasks))
            else:
                for lost in jobs.settle_silence(batch):
                    self._out.put(lost)

    def _resend(self, tasks: list[Task]) -> None:
        """Send ``tasks`` again (lost through no fault of their own), each at most
        MAX_REQUEUE times; past that, lost without an item."""
        again = []
        for task in tasks:
            ident = (task.stage, task.task_id)
            with self._lock:
                self._requeued[ident] = n = self._requeued.get(ident, 0) + 1
            if n > MAX_REQUEUE or self._closed:
                self._out.put(Lost(task, None, "lost on the Dask cluster: its workers died"))
            else:
                again.append(task)
        if again:
            self._send([[task] for task in again],
                       [[pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)] for task in again])


def _worker_lost(exc: BaseException | None) -> bool:
    """The future failed because its worker died (the scheduler's word, or our refusal of
    its rerun)."""
    from runner.execute.dask.records import DiedBefore

    return isinstance(exc, DiedBefore) or type(exc).__name__ == "KilledWorker"

