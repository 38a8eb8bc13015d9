"""What steps write while a task runs, kept per item instead of reaching flow's screen.

A step, or a C library under it (libtiff, libjpeg), may print to stdout, write to
file descriptor 2 or raise Python warnings. On a terminal that text lands between
flow's lines and pushes copies of the live table into the scrollback. So while a
task runs, :class:`Capture` points descriptors 1 and 2 at one temporary file of
this process (``dup2``: C code is caught too) and records Python's warnings; each
time the chain starts an item (the tracker's ``begin``) what was written since is
cut off and kept for the item before. The task's result carries it home as
``(offset, text)`` pairs; the run turns them into notices for that item.

Looking costs next to nothing per item: the capture file is mapped into memory, and
its first byte turns non-zero when anything is written, so an item that wrote
nothing costs no system call (items of a microsecond each stay that fast).

The same code serves a pool worker, a Dask worker and flow's own process
(``mode: serial``), where the descriptors are put back after each task; the live
table draws through a descriptor of its own. One task at a time per process is
captured (a second thread running a task meanwhile runs uncaptured), because file
descriptors and the warnings filters belong to the whole process.
"""

from __future__ import annotations

import io
import mmap
import os
import sys
import tempfile
import threading
import warnings
from typing import Any

from steps.registry import StepNotice

ITEM_LIMIT = 8192  # bytes of one item's output kept; the rest is counted
SINK_BYTES = 1 << 20  # the mapped length of the capture file
_lock = threading.Lock()
_sink: _Sink | None = None  # this process's capture file


class _Sink:
    """A process's capture file: nameless, pre-sized to SINK_BYTES (sparse) and mapped,
    written from offset 0 on and zeroed again after each take."""

    def __init__(self) -> None:
        fd, path = tempfile.mkstemp(prefix="flow-output-")
        os.unlink(path)  # gone with the process, however it ends
        self.fd, self.pid = fd, os.getpid()
        self.map: mmap.mmap | None = None
        try:
            os.ftruncate(fd, SINK_BYTES)
            self.map = mmap.mmap(fd, SINK_BYTES)
        except (OSError, ValueError):
            os.ftruncate(fd, 0)  # no map: ask the file position instead
        _line_buffered_c_stdout()

    def written(self) -> bool:
        """Whether anything was written since the last take."""
        if self.map is not None:
            return self.map[0] != 0
        return os.lseek(self.fd, 0, os.SEEK_CUR) > 0

    def take(self) -> str:
        """What was written since the last take (ITEM_LIMIT bytes of it); start afresh."""
        end = os.lseek(self.fd, 0, os.SEEK_CUR)
        if not end:
            return ""
        text = os.pread(self.fd, min(end, ITEM_LIMIT), 0).decode("utf-8", "replace")
        if end > ITEM_LIMIT:
            text += f"\n… {end - ITEM_LIMIT} more bytes not kept\n"
        if self.map is not None:
            if end > SINK_BYTES:
                os.ftruncate(self.fd, SINK_BYTES)
            used = min(end, SINK_BYTES)
            self.map[:used] = bytes(used)
        else:
            os.ftruncate(self.fd, 0)
        os.lseek(self.fd, 0, os.SEEK_SET)
        return text


class Capture:
    """Fds 1 and 2 and Python's warnings captured for one task; also the task's tracker.

    ``with Capture(tracker) as cap: run(task, cap)``; then ``cap.output`` holds
    ``(offset, text)`` for every item that wrote something (offset -1: before the
    first item began, or a chunk run without per-item tracking) and ``cap.notes``
    the steps' :class:`StepNotice` messages, each once.
    """

    def __init__(self, tracker: Any) -> None:
        self.inner = tracker
        self.notes: list[str] = []
        self._texts: dict[int, dict[str, None]] = {}  # offset -> its distinct pieces
        self._offset = -1
        self._sink: _Sink | None = None  # set while fds 1 and 2 are ours
        self._peek: mmap.mmap | None = None  # its map, if it has one
        self._saved: tuple[Any, ...] = ()  # the descriptors and streams to put back
        self._warned: list[warnings.WarningMessage] = []
        self._seen = 0  # warnings given to an item so far
        self._catcher: Any = None

    @property
    def output(self) -> tuple[tuple[int, str], ...]:
        """What each item wrote, in the order the items began."""
        return tuple((off, "".join(pieces)) for off, pieces in self._texts.items())

    # --- the Tracker the chain calls ---------------------------------------------------
    def begin(self, task_id: int, offset: int) -> None:
        """An item (or a new attempt at one) starts: what came before was the last one's."""
        # The hot path: one byte and one length looked at (see the module docstring).
        peek = self._peek
        if (peek is not None and peek[0]) or len(self._warned) != self._seen:
            self._cut()
        elif peek is None and self._sink is not None and self._sink.written():
            self._cut()
        self._offset = offset
        self.inner.begin(task_id, offset)

    def done(self, count: int) -> None:
        """Items finished (passed on to the tracker underneath)."""
        self.inner.done(count)

    # --- capturing ---------------------------------------------------------------------
    def __enter__(self) -> Capture:
        self._catcher = warnings.catch_warnings(record=True)
        self._warned = self._catcher.__enter__()
        warnings.filterwarnings("always", category=StepNotice)
        # Every warning the filters would show (once), shown for each item it concerns.
        warnings.filterwarnings("always", append=True)
        if not _lock.acquire(blocking=False):
            return self  # another thread of this process is capturing: run as we are
        try:
            _flush()  # what flow itself wrote so far goes out first, where it was going
            sink = _process_sink()
            fds = os.dup(1), os.dup(2)
        except (OSError, ValueError):
            _lock.release()
            return self
        self._saved = (*fds, sys.stdout, sys.stderr)
        os.dup2(sink.fd, 1)
        os.dup2(sink.fd, 2)
        # Line by line, so each line reaches the file before the next item starts.
        sys.stdout, sys.stderr = _text(1, sys.stdout), _text(2, sys.stderr)
        self._sink, self._peek = sink, sink.map
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._sink is not None:
                _flush()
            self._cut()
        finally:
            if self._saved:
                out, err, sys.stdout, sys.stderr = self._saved
                self._saved, self._sink, self._peek = (), None, None
                for fd, original in ((1, out), (2, err)):
                    os.dup2(original, fd)
                    os.close(original)
                _lock.release()
            self._catcher.__exit__(*exc)

    def _cut(self) -> None:
        """Give what was written and warned since the last cut to the current item."""
        piece = self._sink.take() if self._sink is not None else ""
        for w in self._warned[self._seen:]:
            if issubclass(w.category, StepNotice):
                if str(w.message) not in self.notes:
                    self.notes.append(str(w.message))
            else:
                piece += warnings.formatwarning(w.message, w.category, w.filename, w.lineno,
                                                line="")
        self._seen = len(self._warned)
        if piece:
            # A retried item, or one run again after its chunk's fast path gave up,
            # says the same thing twice: keep it once.
            self._texts.setdefault(self._offset, {})[piece] = None


def _process_sink() -> _Sink:
    """This process's capture file (made once; a forked child makes its own)."""
    global _sink
    if _sink is None or _sink.pid != os.getpid():
        _sink = _Sink()
    return _sink


def _text(fd: int, like: Any) -> io.TextIOWrapper:
    """A line-buffered text stream on ``fd`` that does not close it."""
    encoding = getattr(like, "encoding", None) or "utf-8"
    return open(fd, "w", buffering=1, encoding=encoding, errors="backslashreplace",
                closefd=False)


def _flush() -> None:
    """Push Python's and C's buffered output to the descriptors, wherever they point now."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    libc = _libc()
    if libc is not None:
        libc.fflush(None)


def _line_buffered_c_stdout() -> None:
    """C's stdout flushed at each line, as on a terminal (on a file C keeps 4 KiB back,
    which would land on a later item, or on the screen after the task)."""
    libc = _libc()
    if libc is None:
        return
    import ctypes

    for name in ("stdout", "__stdoutp"):  # glibc, BSD libc
        try:
            stream = ctypes.c_void_p.in_dll(libc, name)
        except ValueError:
            continue
        libc.setvbuf(stream, None, 1, 0)  # _IOLBF
        return


_libc_handle: Any = None


def _libc() -> Any:
    """The C library of this process, or None where ctypes cannot reach it."""
    global _libc_handle
    if _libc_handle is None:
        try:
            import ctypes

            _libc_handle = ctypes.CDLL(None)
        except (OSError, ImportError):
            _libc_handle = False
    return _libc_handle or None
