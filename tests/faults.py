"""Fault injection: step functions that misbehave on cue, and helpers to kill processes.

The step functions are plain ``fn(value, **with)`` map steps, usable as
``uses: py:tests.faults:kill_at`` in a workflow (after :func:`beside` put a copy
in the workflow's folder: ``py:`` reaches nothing else) or as ``ChainStep.ref`` in
executor tests (:func:`ref`). Each one passes values through unchanged except where
told to misbehave, so one bad item sits among good ones.

The helpers below them work on pids from the parent's side: SIGKILL a worker or
flow itself at a chosen moment, wait until processes are gone, list a process's
children (psutil is not installed; everything reads /proc).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

MODULE = __name__  # "tests.faults" or "faults", depending on how it was imported


def ref(name: str) -> str:
    """``module:function`` of a fault step, for ChainStep.ref."""
    return f"{MODULE}:{name}"


def beside(folder: Path) -> None:
    """Copy this module to ``folder/tests/faults.py``: a workflow in ``folder`` then
    reaches it as ``py:tests.faults:NAME`` (py: only reaches the workflow's folder and
    installed step packages)."""
    target = Path(folder) / "tests" / "faults.py"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(Path(__file__).read_bytes())


def import_root() -> str:
    """The sys.path entry under which ``MODULE`` imports (for ExecutorOptions.extra_paths)."""
    here = Path(__file__).resolve().parent
    return str(here.parent if "." in MODULE else here)


def _hit(value: Any, at: Any) -> bool:
    if at is None:
        return True
    if isinstance(at, (list, tuple)):
        return value in at
    return value == at


def _mark(mark: str | None) -> None:
    """Write this moment (time.monotonic(), the same clock in every process) to ``mark``."""
    if mark:  # whole or absent: a reader that sees the file sees what it says
        tmp = f"{mark}.{os.getpid()}.{threading.get_ident()}.tmp"  # two items may mark at once
        Path(tmp).write_text(f"{time.monotonic()!r} {os.getpid()}\n")
        os.replace(tmp, mark)


# -- steps: dying ---------------------------------------------------------------------------------

def kill_at(value: Any, at: Any = None, sig: str = "SIGKILL", mark: str | None = None) -> Any:
    """Kill this worker with signal ``sig`` when ``value == at`` (a list: any of them)."""
    if _hit(value, at):
        _mark(mark)
        os.kill(os.getpid(), getattr(signal, sig))
        time.sleep(5)  # a catchable signal may take a moment
    return value


def exit_at(value: Any, at: Any = None, code: int = 3, mark: str | None = None) -> Any:
    """``os._exit(code)`` when ``value == at``: no cleanup, no exception."""
    if _hit(value, at):
        _mark(mark)
        os._exit(code)
    return value


def kill_once(value: Any, flag: str, at: Any = None) -> Any:
    """SIGKILL this worker the first time ``value == at`` (``flag`` file records it).

    For retries: the second attempt of the same item passes.
    """
    if _hit(value, at):
        try:
            fd = os.open(flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return value
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)
    return value


# -- steps: slow -----------------------------------------------------------------------------------

def sleep_at(value: Any, seconds: float = 30.0, at: Any = None, mark: str | None = None) -> Any:
    """Sleep ``seconds`` when ``value == at`` (every item if ``at`` is not given)."""
    if _hit(value, at):
        _mark(mark)
        time.sleep(seconds)
    return value


def spin_at(value: Any, seconds: float = 30.0, at: Any = None) -> Any:
    """Burn CPU for ``seconds`` when ``value == at`` (a hang that never sleeps)."""
    if _hit(value, at):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
    return value


# -- steps: odd exceptions and results -----------------------------------------------------------

class OddInit(Exception):
    """An exception whose __init__ takes two arguments: unpickling it fails (gh-79492)."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"odd failure {code}: {detail}")
        self.code, self.detail = code, detail


class BaseFailure(BaseException):
    """Not an Exception: plain ``except Exception`` lets it through."""


class BadStr(Exception):
    """An exception whose __str__ raises."""

    def __str__(self) -> str:
        raise RuntimeError("no text for you")


class Unpicklable(Exception):
    """An exception that cannot be pickled at all."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.fn = lambda: None

    def __reduce__(self) -> Any:
        raise TypeError("cannot pickle Unpicklable")


def raise_at(value: Any, kind: str = "odd_init", at: Any = None) -> Any:
    """Raise an awkward exception when ``value == at``.

    ``kind``: odd_init, base (a BaseException subclass), system_exit, bad_str,
    unpicklable, keyboard (KeyboardInterrupt), value (a plain ValueError).
    """
    if not _hit(value, at):
        return value
    if kind == "odd_init":
        raise OddInit(7, f"value {value}")
    if kind == "base":
        raise BaseFailure(f"base failure at {value}")
    if kind == "system_exit":
        raise SystemExit(3)
    if kind == "bad_str":
        raise BadStr()
    if kind == "unpicklable":
        raise Unpicklable(f"cannot travel {value}")
    if kind == "keyboard":
        raise KeyboardInterrupt
    raise ValueError(f"bad value {value}")


def odd_value_at(value: Any, kind: str = "lambda", at: Any = None) -> Any:
    """Return something that cannot travel back to the parent when ``value == at``.

    ``kind``: lambda (cannot be pickled), odd_exception (pickles, fails to unpickle).
    """
    if not _hit(value, at):
        return value
    if kind == "lambda":
        return lambda: value
    return OddInit(1, "as a value")


# -- steps: memory, identity, plain work ---------------------------------------------------------

def allocate(value: Any, mb: int = 1024, at: Any = None) -> Any:
    """Allocate (and touch) ``mb`` MiB when ``value == at``; returns the value."""
    if _hit(value, at):
        block = bytearray(mb * 1024 * 1024)
        block[::4096] = b"x" * len(block[::4096])
        del block
    return value


def pid(value: Any) -> int:
    """The pid of the worker that ran this item."""
    return os.getpid()


def square(value: Any) -> Any:
    """value * value."""
    return value * value


def add(value: Any, n: float = 1) -> Any:
    """value + n."""
    return value + n


def corrupt_results(value: Any, at: Any = None) -> Any:
    """Write garbage into this worker's result pipe (breaks the pool's result thread)."""
    if _hit(value, at):
        import sys

        frame = sys._getframe(1)
        while frame is not None and "outqueue" not in frame.f_locals:
            frame = frame.f_back
        if frame is not None:
            frame.f_locals["outqueue"]._writer.send_bytes(b"this is not a pickle")
    return value


# -- helpers for tests (parent side) ---------------------------------------------------------------

def pid_gone(pid: int) -> bool:
    """True when ``pid`` is no longer a live process (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat[stat.rfind(b")") + 2: stat.rfind(b")") + 3] in (b"Z", b"X")


def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait until every pid is gone; the ones still alive after ``timeout`` s."""
    left = list(pids)
    end = time.monotonic() + timeout
    while left and time.monotonic() < end:
        left = [p for p in left if not pid_gone(p)]
        if left:
            time.sleep(0.02)
    return [p for p in left if not pid_gone(p)]


def parent_of(pid: int) -> int:
    """The parent pid of ``pid`` (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return 0
    return int(stat[stat.rfind(b")") + 2:].split()[1])


def children_of(pid: int) -> list[int]:
    """Live direct children of ``pid``."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and parent_of(int(entry)) == pid and not pid_gone(int(entry)):
            out.append(int(entry))
    return sorted(out)


def descendants_of(pid: int) -> list[int]:
    """Live children, grandchildren ... of ``pid``."""
    found, todo = [], [pid]
    while todo:
        kids = children_of(todo.pop())
        found.extend(kids)
        todo.extend(kids)
    return sorted(found)


def kill(pid: int, sig: int = signal.SIGKILL) -> bool:
    """Send ``sig`` to ``pid``; False if it was gone already."""
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def kill_later(pid: int, delay: float, sig: int = signal.SIGKILL) -> threading.Timer:
    """Send ``sig`` to ``pid`` after ``delay`` s (from a timer thread); returns the timer."""
    timer = threading.Timer(delay, kill, args=(pid, sig))
    timer.daemon = True
    timer.start()
    return timer


def kill_when_file(path: str, pid: int, timeout: float = 30.0,
                   sig: int = signal.SIGKILL) -> threading.Thread:
    """Send ``sig`` to ``pid`` as soon as ``path`` exists (e.g. a step's ``mark``)."""
    def watch() -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if os.path.exists(path):
                kill(pid, sig)
                return
            time.sleep(0.01)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


def read_mark(path: str) -> tuple[float, int]:
    """(monotonic time, pid) written by a step's ``mark``."""
    t, p = Path(path).read_text().split()
    return float(t), int(p)


# -- values that die in transit -------------------------------------------------------------------

def _die_here() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(5)


class DieOnLoad:
    """An item value that SIGKILLs the process that unpickles it: a worker taking its task."""

    def __reduce__(self) -> Any:
        return (_die_here, ())


class DieOnLoadInt(int):
    """A task id that SIGKILLs the worker unpickling the pool's envelope of the task.

    ``Task(task_id=DieOnLoadInt(5))``: the worker dies after taking the task from
    the queue and before it can say so in its slot (the narrowest window there is).
    """

    def __reduce__(self) -> Any:
        return (_die_here, ())


class DieOnPickle:
    """A result value that SIGKILLs the worker pickling it to send it back."""

    def __reduce__(self) -> Any:
        _die_here()
        return (int, ())


def die_on_pickle_at(value: Any, at: Any = None) -> Any:
    """Return a value whose pickling kills the worker (after the task has returned)."""
    return DieOnPickle() if _hit(value, at) else value


# -- steps with a wall-clock stamp (for end-to-end timings against --json event times) ----------

def _stamp(stamp: str | None) -> None:
    """Write time.time() (the clock of flow's events' ``t``) and this pid to ``stamp``."""
    if stamp:
        Path(stamp).write_text(f"{time.time()!r} {os.getpid()}\n")


def kill_stamped(value: Any, at: Any = None, stamp: str | None = None) -> Any:
    """Like :func:`kill_at` (SIGKILL), but stamps the wall-clock moment first."""
    if _hit(value, at):
        _stamp(stamp)
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(5)
    return value


def fail_at(value: Any, at: Any = None, stamp: str | None = None) -> Any:
    """Raise a plain ValueError when ``value == at``, stamping the wall-clock moment first."""
    if _hit(value, at):
        _stamp(stamp)
        raise ValueError(f"planned failure at {value}")
    return value
