"""Is a process alive: the one answer every part of flow uses.

A zombie (exited, not yet reaped by its parent) counts as dead: it runs no code
and will never finish a write, hold a slot or answer a task. Counting it alive
once left a killed worker's temporary file behind, because the sweep saw a live
writer where there was only an unreaped exit status.
"""

from __future__ import annotations

import os


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
