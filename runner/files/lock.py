"""One run per working directory: an exclusive ``flock`` on ``.flow/lock``.

The kernel drops the lock when its holder dies, however it dies (SIGKILL
included), so a killed run's lock is simply taken over. The file holds who
holds it (pid, when it started, which workflow), for the message a second run
shows while it waits, or refuses with under ``--no-wait``.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import time
from collections.abc import Callable

from runner.errors import FlowError
from runner.files.store import FOLDER, ensure_folder

NAME = "lock"


class WorkdirLock:
    """The lock of one working directory; hold it for a whole run."""

    def __init__(self, fd: int, path: str) -> None:
        self._fd: int | None = fd
        self.path = path

    @classmethod
    def acquire(cls, workdir: str, workflow: str, wait: bool = True,
                on_wait: Callable[[str], None] | None = None) -> WorkdirLock:
        """Take the lock, waiting for another run to end (``on_wait`` gets the message
        first) or, with ``wait=False``, refusing with a FlowError (exit 2)."""
        folder = ensure_folder(workdir)
        path = os.path.join(folder, NAME)
        fd = _open(path)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                if not wait:
                    raise FlowError.single(
                        f"another flow run is using this folder: {holder}",
                        file=os.path.join(FOLDER, NAME),
                        hint="wait for it (leave out --no-wait), or run in another folder "
                             "(--workdir)") from None
                if on_wait is not None:
                    on_wait(f"waiting for {holder} to finish ...")
                fcntl.flock(fd, fcntl.LOCK_EX)
            _write_holder(fd, workflow)
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, path)

    def release(self) -> None:
        """Let the next run in (closing the file drops the lock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WorkdirLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _open(path: str) -> int:
    """The lock file, opened without following a link or hanging on a FIFO."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     0o644)
    except OSError as exc:
        raise FlowError.single(f"cannot use {os.path.join(FOLDER, NAME)}: "
                               f"{exc.strerror or exc}", file=os.path.join(FOLDER, NAME),
                               hint="remove it, or make .flow writable") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise FlowError.single(f"{os.path.join(FOLDER, NAME)} is not a regular file: remove it",
                               file=os.path.join(FOLDER, NAME))
    return fd


def _holder(fd: int) -> str:
    """"the run started at 12:03:04 (pid 123, thumbnails.yaml)", as the file says."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        doc = json.loads(os.read(fd, 4096).decode("utf-8", "replace"))
        when = time.strftime("%H:%M:%S", time.localtime(float(doc["started"])))
        return f"the run started at {when} (pid {int(doc['pid'])}, {doc['workflow']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another run (it has not said which yet)"


def _write_holder(fd: int, workflow: str) -> None:
    data = json.dumps({"pid": os.getpid(), "started": time.time(),
                       "workflow": os.path.basename(workflow)}).encode()
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    except OSError:
        pass  # who holds it is only for another run's message
