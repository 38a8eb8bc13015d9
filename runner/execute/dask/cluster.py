"""Reaching a Dask cluster: flow's own on this machine, or the one at an address.

:func:`connect` and :func:`start_local` return a :class:`Cluster`: the client, and the
LocalCluster flow started (None for someone else's cluster). flow's own workers start
with SIGINT blocked, so Ctrl-C in the terminal reaches flow alone (which ends them) and
not a dozen worker processes that would each print a traceback; and
:meth:`Cluster.end_own_workers` ends them at once when the run is cancelled, which a
cluster's orderly close cannot do quickly.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from dataclasses import dataclass
from typing import Any

from runner.execute.base import ExecutorOptions

# flow's own cluster: a dead worker fails its task at once (flow decides what to do with
# it); a worker is sent only the task it runs, so its death takes no queued task along;
# its workers keep glibc's own malloc thresholds (Dask's MALLOC_TRIM_THRESHOLD_ makes
# every image buffer a fresh mmap: thumbnails take 4% longer) and run no sampling profiler.
OWN_CONFIG = {"distributed.scheduler.allowed-failures": 0,
              "distributed.scheduler.worker-saturation": 1.0,
              "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
              "distributed.worker.profile.enabled": False}


@dataclass
class Cluster:
    """A connected client, and the local cluster flow started (None: someone else's)."""

    client: Any
    local: Any = None

    def threads(self) -> int:
        """The worker threads the scheduler reports now."""
        return sum(self.client.nthreads().values())

    def all_nannies(self) -> bool:
        """Whether every worker has a nanny now (then a worker that died with nobody saying
        why has left whole, nanny and all)."""
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {}).values()
        return all(w.get("nanny") for w in workers)

    def end_own_workers(self) -> None:
        """SIGKILL the worker processes of flow's own cluster, which its nannies then leave
        dead (nothing else is touched): ends it in milliseconds, not the half second of an
        orderly close, and at once when their threads are stuck in a task."""
        if self.local is None:
            return
        for nanny in list(getattr(self.local, "workers", {}).values()):
            pid = getattr(nanny, "pid", None)
            with contextlib.suppress(Exception):  # its nanny must not start another
                nanny.close_gracefully(reason="flow-cancel")
            if pid:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def drop_plugin(self, name: str, timeout: float) -> None:
        """Remove the nanny plugin ``name`` from someone else's cluster (flow's own goes
        whole), waiting at most ``timeout`` s for its nannies. Never raises."""
        if self.local is not None:
            return

        def drop() -> None:
            with contextlib.suppress(Exception):  # not there, or the cluster is gone
                self.client.unregister_worker_plugin(name, nanny=True)

        thread = threading.Thread(target=drop, name="flow-dask-unplug", daemon=True)
        thread.start()
        thread.join(timeout)

    def close(self, timeout: float = 5) -> None:
        """Disconnect; end flow's own cluster. Never raises."""
        for thing in (self.client, self.local):
            with contextlib.suppress(Exception):  # closing must never fail the run
                if thing is not None:
                    thing.close(timeout=timeout)


def connect(address: str) -> Cluster:
    """A client of the scheduler at ``address``."""
    from distributed import Client

    return Cluster(Client(address, timeout="10s"))


def start_local(options: ExecutorOptions) -> Cluster:
    """A new LocalCluster of ``options.workers`` single-thread worker processes on
    127.0.0.1, and its client. Call it inside :func:`sigint_blocked`, and keep what it
    returns before leaving that block: a Ctrl-C made meanwhile arrives there."""
    import dask
    from distributed import Client, LocalCluster

    mem = f"{options.worker_memory_mb}MiB" if options.worker_memory_mb else "auto"
    with dask.config.set(OWN_CONFIG):
        local = LocalCluster(n_workers=max(1, options.workers), threads_per_worker=1,
                             processes=True, dashboard_address=":0", host="127.0.0.1",
                             memory_limit=mem, silence_logs=logging.CRITICAL)
        try:
            return Cluster(Client(local), local)
        except BaseException:
            local.close(timeout=2)
            raise


def quiet_logs() -> None:
    """Dask logs to stderr what flow reports itself (a worker lost, a connection closed at
    the end): only its critical messages get through."""
    logging.getLogger("distributed").setLevel(logging.CRITICAL)


@contextlib.contextmanager
def sigint_blocked():
    """SIGINT blocked in this thread while the cluster starts: every thread it starts
    inherits the mask, and so does every worker process they spawn, now or when a worker
    is restarted. A Ctrl-C meanwhile waits, and arrives when the mask is restored."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    # multiprocessing unblocks SIGINT in whichever thread first starts its resource
    # tracker: start it here and now, so that no thread of the cluster does.
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
