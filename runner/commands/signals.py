"""SIGTERM and SIGHUP end a run as Ctrl-C does: workers stopped, no partial file, what is
finished recorded; the exit status is 128 + the signal (143, 129), as a shell reports it."""

from __future__ import annotations

import signal
from types import FrameType


class Terminated(KeyboardInterrupt):
    """The run was asked to end by a signal other than Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_received: list[int] = []


def _end(signum: int, frame: FrameType | None) -> None:
    if _received:
        return  # once: the clean-up after the first is not cut short
    _received.append(signum)
    raise Terminated(signum)


def end_on_terminate() -> None:
    """From now on SIGTERM and SIGHUP interrupt this process like Ctrl-C."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _end)


def exit_code(default: int) -> int:
    """128 + the signal that ended the run, or ``default`` when none did."""
    return 128 + _received[0] if _received else default
