"""A real Dask cluster for tests: ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1.

Started as a user starts them on other machines (``python -m dask scheduler --scheduler-file
F``, ``python -m dask worker --nthreads 1 --scheduler-file F``), each in its own session so
that a test can kill a whole worker (its nanny and its worker process). A worker on another
machine has its own temporary folder (``own_tmp``) and its own pids (``own_pids``: a pid
namespace, where ``unshare`` may make one, as root on Linux): with both, nothing of flow's
machine is shared with it but the working directory. Tell such workers apart by their
addresses: their pids mean nothing outside.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0  # seconds for a scheduler or a worker to come up on a loaded machine


class ProcCluster:
    """A scheduler process and worker processes; :meth:`close` ends them all."""

    def __init__(self, root: Path, workers: int = 2, own_tmp: bool = False,
                 own_pids: bool = False, nthreads: int = 1) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.file = root / "scheduler.json"
        self.own_tmp = own_tmp
        self.own_pids = own_pids and own_pid_space_works()
        self.nthreads = nthreads
        self.env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.workers: list[subprocess.Popen] = []
        self._client: Any = None
        self.scheduler = self._spawn(["scheduler", "--host", "127.0.0.1", "--port", "0",
                                      "--no-dashboard", "--scheduler-file", str(self.file)],
                                     self.env, "scheduler")
        for _ in range(workers):
            self.add_worker(wait=False)
        self.wait_workers(workers)

    def _spawn(self, args: list[str], env: dict[str, str], name: str,
               wrap: tuple[str, ...] = ()) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - the process keeps it
        return subprocess.Popen([*wrap, sys.executable, "-m", "dask", *args], env=env,
                                stdout=log, stderr=log, start_new_session=True)

    @property
    def address(self) -> str:
        """The scheduler's address, once it has written its file."""
        end = time.monotonic() + START_TIMEOUT
        while True:
            with contextlib.suppress(OSError, ValueError, KeyError):
                return json.loads(self.file.read_text())["address"]
            assert time.monotonic() < end, "the scheduler did not start"
            time.sleep(0.05)

    @property
    def client(self) -> Any:
        """A client of this cluster, for the tests' own questions."""
        if self._client is None:
            from distributed import Client

            self._client = Client(self.address, timeout="30s")
        return self._client

    def add_worker(self, wait: bool = True) -> subprocess.Popen:
        """Start one more worker (with its nanny) of ``nthreads`` threads."""
        env = dict(self.env)
        n = len(self.workers)
        if self.own_tmp:
            tmp = self.root / f"tmp-worker-{n}"
            tmp.mkdir(exist_ok=True)
            env["TMPDIR"] = str(tmp)
        proc = self._spawn(["worker", "--nthreads", str(self.nthreads),
                            "--scheduler-file", str(self.file),
                            "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{n}"],
                           env, f"worker-{n}", UNSHARE if self.own_pids else ())
        self.workers.append(proc)
        if wait:
            self.wait_workers(len(self.live()))
        return proc

    def ensure(self, count: int) -> None:
        """Start workers until ``count`` run (a test may have ended some), and wait for them."""
        for _ in range(count - len(self.live())):
            self.add_worker(wait=False)
        self.wait_workers(count)

    def live(self) -> list[subprocess.Popen]:
        """The ``dask worker`` processes still running."""
        return [p for p in self.workers if p.poll() is None]

    def wait_workers(self, count: int, timeout: float = START_TIMEOUT) -> None:
        """Wait until the scheduler has ``count`` workers."""
        end = time.monotonic() + timeout
        while len(self.client.scheduler_info(n_workers=-1)["workers"]) < count:
            assert time.monotonic() < end, f"fewer than {count} workers came up"
            time.sleep(0.05)

    def addresses(self) -> set[str]:
        """The addresses of the workers the scheduler knows now."""
        return set(self.client.scheduler_info(n_workers=-1)["workers"])

    def worker_pids(self) -> dict[str, int]:
        """Each worker's address and the pid of its worker process (in its pid namespace)."""
        return self.client.run(os.getpid)

    def kill_whole(self, proc: subprocess.Popen) -> None:
        """SIGKILL a worker and its nanny: the worker leaves the cluster for good; returns
        once the scheduler no longer lists it (so the next test's count of workers is true)."""
        listed = len(self.addresses())
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        end = time.monotonic() + START_TIMEOUT
        while len(self.addresses()) >= listed:
            assert time.monotonic() < end, "the scheduler still lists a worker killed whole"
            time.sleep(0.05)

    def close(self) -> None:
        """End every process of the cluster."""
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close(timeout=5)
        for proc in [*self.workers, self.scheduler]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in [*self.workers, self.scheduler]:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)


UNSHARE = ("unshare", "--pid", "--fork", "--mount-proc")


def own_pid_space_works() -> bool:
    """Whether this machine lets a test start a process in a pid namespace of its own."""
    try:
        return subprocess.run([*UNSHARE, "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
