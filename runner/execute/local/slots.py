"""Which pool worker holds which task and item: a table in shared memory.

One slot per live worker process. A worker claims a free slot when it starts
(:func:`claim`) and then writes where it is with plain memory stores: no queue
message per item, so tracking costs well under a microsecond an item. The
parent reads the table every few tens of milliseconds to find the task a dead
worker held and the item that ran past its timeout.

Writes follow a sequence lock: the worker makes ``gen`` odd, writes, makes it
even again; a reader retries while ``gen`` is odd or changed under it, so it
never acts on half of an update (a fresh offset with the previous item's start
time could look like a timeout).
"""

from __future__ import annotations

import ctypes
import os
import time
from dataclasses import dataclass
from typing import Any

from runner.procs import pid_alive

# Slot states, in the order a worker's life goes through them.
FREE = 0  # nobody owns the slot
IDLE = 1  # claimed by a worker that has not asked for work yet
WAITING = 2  # in the pool's get(): blocked until a task arrives
RUNNING = 3  # inside a task; offset says which item (-1: none yet, or a whole chunk)
RETURNED = 4  # the task returned; its result is being sent back

_monotonic = time.monotonic


class Slot(ctypes.Structure):
    """One worker's row of the table (shared memory; plain stores)."""

    _fields_ = [
        ("gen", ctypes.c_int64),  # sequence lock: odd while the worker writes
        ("pid", ctypes.c_int64),  # 0: free
        ("state", ctypes.c_int64),
        ("seq", ctypes.c_int64),  # the executor's submission number of the task held
        ("task_id", ctypes.c_int64),
        ("offset", ctypes.c_int64),  # the item being run, -1 when not known
        ("start", ctypes.c_double),  # time.monotonic() when that item or state began
    ]


@dataclass(frozen=True)
class SlotView:
    """A consistent copy of one slot, read by the parent."""

    index: int
    gen: int
    pid: int
    state: int
    seq: int
    task_id: int
    offset: int
    start: float


def new_table(ctx: Any, size: int) -> Any:
    """A zeroed table of ``size`` slots in shared memory, passable to pool workers."""
    return ctx.RawArray(Slot, size)


def read(table: Any, index: int, writer_dead: bool = False) -> SlotView | None:
    """Slot ``index`` as one consistent view, or None if it is free.

    ``writer_dead``: its worker is known dead, so read as is (it may have died mid-write).
    """
    s = table[index]
    if writer_dead:
        return SlotView(index, s.gen, s.pid, s.state, s.seq, s.task_id, s.offset,
                        s.start) if s.pid else None
    for _ in range(1000):
        g = s.gen
        if g & 1:
            time.sleep(0)  # the worker is mid-write: let it finish
            continue
        view = SlotView(index, g, s.pid, s.state, s.seq, s.task_id, s.offset, s.start)
        if s.gen == g:
            return view if view.pid else None
    return None  # a worker stuck mid-write for this long is dead; its death is handled


def views(table: Any) -> list[SlotView]:
    """Every claimed slot."""
    out = []
    for i in range(len(table)):
        v = read(table, i)
        if v is not None:
            out.append(v)
    return out


def release(table: Any, index: int, pid: int) -> None:
    """Free slot ``index`` after its worker ``pid`` died (parent side)."""
    s = table[index]
    if s.pid != pid:
        return  # already taken over by a new worker
    s.state = FREE
    if s.gen & 1:  # it died mid-write: leave the lock even for the next owner
        s.gen += 1
    s.pid = 0  # last: a claimant looks only at pid


def pid_gone(pid: int) -> bool:
    """True if no live process has this pid (a zombie counts as gone): see runner.procs."""
    return not pid_alive(pid)


# -- worker side ------------------------------------------------------------------------------

class SlotTracker:
    """The worker's writer for its own slot; also the ``Tracker`` that run_task calls."""

    __slots__ = ("_s",)

    def __init__(self, slot: Slot) -> None:
        self._s = slot

    def begin(self, task_id: int, offset: int) -> None:
        """An item (offset >= 0) or a whole chunk (offset -1) of the held task starts now."""
        s = self._s
        s.gen += 1
        s.offset = offset
        s.start = _monotonic()
        s.gen += 1

    def done(self, count: int) -> None:
        """Items finished: nothing to write (only the item a worker is on matters)."""

    def enter(self, seq: int, task_id: int) -> None:
        """The worker starts running task ``seq``."""
        s = self._s
        s.gen += 1
        s.state = RUNNING
        s.seq = seq
        s.task_id = task_id
        s.offset = -1
        s.start = _monotonic()
        s.gen += 1

    def set_state(self, state: int) -> None:
        """A new state (WAITING, RETURNED), timed from now."""
        s = self._s
        s.gen += 1
        s.state = state
        s.start = _monotonic()
        s.gen += 1


class _ForkedTracker(SlotTracker):
    """The tracker as a process forked by a step sees it: the slot is the worker's.

    Such a child, carrying on from the step as if it were the worker, ends quietly at
    its first write here (the next item, the end of the task, the wait for the next
    one): it must never deliver a result, take a task or move the worker's slot.
    """

    __slots__ = ()

    def begin(self, task_id: int, offset: int) -> None:
        os._exit(0)

    def enter(self, seq: int, task_id: int) -> None:
        os._exit(0)

    def set_state(self, state: int) -> None:
        os._exit(0)


def disown() -> None:
    """In a child forked inside a worker (an ``after_in_child`` fork hook): see
    :class:`_ForkedTracker`. Costs the worker itself nothing per item."""
    if type(_mine) is SlotTracker:
        _mine.__class__ = _ForkedTracker


class NullTracker:
    """Stands in when a worker found no slot: it runs, untracked."""

    def begin(self, task_id: int, offset: int) -> None:
        pass

    def done(self, count: int) -> None:
        pass

    def enter(self, seq: int, task_id: int) -> None:
        pass

    def set_state(self, state: int) -> None:
        pass


_mine: SlotTracker | NullTracker = NullTracker()


def claim(table: Any, lock: Any) -> SlotTracker | NullTracker:
    """Take a free slot for this process (under ``lock``); remember it as :func:`mine`."""
    global _mine
    pid = os.getpid()
    with lock:
        free = [i for i in range(len(table)) if table[i].pid == 0]
        if not free:
            # The parent frees the slots of dead workers within a tick; if it has not yet
            # (it is busy), take one whose owner is gone rather than run untracked.
            free = [i for i in range(len(table)) if pid_gone(table[i].pid)]
        if not free:
            return _mine
        s = table[free[0]]
        s.gen |= 1  # odd (even if a dead owner left it odd): writing
        s.state = IDLE
        s.seq = -1
        s.task_id = -1
        s.offset = -1
        s.start = _monotonic()
        s.gen += 1
        s.pid = pid  # last: the parent ignores slots whose pid is 0
    _mine = SlotTracker(s)
    return _mine


def mine() -> SlotTracker | NullTracker:
    """This worker's tracker (a NullTracker outside a pool worker)."""
    return _mine
