"""Processes, as every part of flow sees them: is one alive, and ending them all.

A zombie (exited, not yet reaped by its parent) counts as dead: it runs no code
and will never finish a write, hold a slot or answer a task. Counting it alive
once left a killed worker's temporary file behind, because the sweep saw a live
writer where there was only an unreaped exit status.

The rest serves one promise: every process a run starts ends with it (see
:mod:`runner.run.reaper`), and none is cut short by Ctrl-C while it starts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists and is not a zombie.

    Reads ``/proc/PID/stat`` (the state letter: ``Z`` zombie, ``X`` dead); where
    there is no ``/proc``, falls back to ``kill(pid, 0)``, which cannot tell a zombie.
    """
    if pid <= 0:
        return False  # kill(0, …) and kill(-1, …) mean process groups, never one process
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # someone else's process, alive
        return True
    # The state follows the command name, which is in parentheses and may hold spaces.
    end = stat.rfind(b")")
    return stat[end + 2: end + 3] not in (b"Z", b"X")


def stopped(pid: int) -> bool:
    """True if ``pid`` is stopped by a signal (SIGSTOP, SIGTSTP: state ``T``), not traced."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    end = stat.rfind(b")")
    return stat[end + 2: end + 3] == b"T"


@contextlib.contextmanager
def ctrl_c_held() -> Iterator[None]:
    """Ctrl-C blocked in this thread for the block: a process started meanwhile begins
    with it blocked (the mask survives ``fork`` and ``exec``), so it cannot be cut
    short while it imports; this process gets a Ctrl-C that came, when the block
    ends. Main thread only (the one Python raises KeyboardInterrupt in)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sigint = {signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, sigint)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, sigint)


def ctrl_c_to_main_thread_only() -> None:
    """From now on every thread started here blocks Ctrl-C from its first step.

    Python takes Ctrl-C in the main thread anyway; but a process started from another
    thread (a library's event loop: a Dask nanny starting its worker) inherits that
    thread's signal mask, and one that can take Ctrl-C while it imports prints a
    traceback. ``threading.setprofile`` runs a hook first thing in each new thread;
    it blocks SIGINT there and removes itself.
    """
    threading.setprofile(_hold_ctrl_c)


def _hold_ctrl_c(frame: object, event: str, arg: object) -> None:
    sys.setprofile(None)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def kill_group(pid: int, sig: int) -> None:
    """Send ``sig`` to the process group ``pid`` leads (a pool worker leads its own, with
    whatever its steps started in it), or to ``pid`` alone if it leads none.
    ProcessLookupError if ``pid`` is gone."""
    if os.getpgid(pid) == pid:
        os.killpg(pid, sig)
    else:
        os.kill(pid, sig)


# -- every process a run starts ends with it ----------------------------------------------

_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Make this process the child subreaper of its descendants (Linux): a process
    orphaned below it (a step's daemon, a dead worker's child) becomes its child
    instead of PID 1's, so it can still be found, ended and reaped. False if refused."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _parents() -> dict[int, tuple[int, bool]]:
    """Every process: pid -> (parent pid, is a zombie)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        end = stat.rfind(b")")
        fields = stat[end + 2:].split()
        out[int(entry)] = (int(fields[1]), fields[0] in (b"Z", b"X"))
    return out


def descendants(pid: int | None = None) -> list[int]:
    """Live (not zombie) children, grandchildren ... of ``pid`` (default: this process)."""
    root = os.getpid() if pid is None else pid
    kids: dict[int, list[int]] = {}
    procs = _parents()
    for p, (ppid, _) in procs.items():
        kids.setdefault(ppid, []).append(p)
    found, todo = [], [root]
    while todo:
        for k in kids.get(todo.pop(), ()):
            if not procs[k][1]:
                found.append(k)
            todo.append(k)
    return found


def reap(spare: frozenset[int] = frozenset()) -> None:
    """Collect the exit status of every ended child of this process but ``spare``, so
    no zombie is left (only at the end of a run: nothing else waits for them then)."""
    me = os.getpid()
    for pid, (ppid, _) in _parents().items():
        if ppid == me and pid not in spare:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def end_descendants(spare: frozenset[int] = frozenset(), timeout: float = 2.0) -> list[int]:
    """SIGKILL every live descendant of this process but ``spare``, and reap them (with
    this process a subreaper, the orphans of those killed come back to it and go the
    same way); the pids still alive after ``timeout`` s."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in descendants() if p not in spare]
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        reap(spare)
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.005)
