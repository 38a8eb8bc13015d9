"""What an item is, for the journal: its identity, its source's state, its outputs' state.

An item from a file is that file: its path below the working directory, with its
size and mtime_ns. Why not a hash of its content: reading 600 photos of 10 MB
each to learn that nothing changed would cost more than most runs save, and size
plus nanosecond mtime is what make, ninja and Snakemake trust. An editor, a copy or
a camera import all set a new mtime; a tool that rewrites a file and restores its
mtime and size is the one case it misses (``--force`` redoes everything).

An item without a file is its value (a number, a string): the value is the
identity. A string that names a file in the working directory is also that
file's size and mtime, so a list of paths is tracked like a glob.

The outputs' state is each output's path, size, mtime_ns and inode, as flow
found them right after writing: an output removed, edited or written since by
another item (or another run) no longer matches, and its item runs again.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from typing import Any

try:  # the built-in BLAKE2, without the ~2 ms of hashlib's OpenSSL import
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a Python built without it
    from hashlib import blake2b

KEEP_LIMIT = 16384  # bytes of JSON: a larger value is not kept (its item reruns when needed)
Stat = tuple[int, int] | None  # (size, mtime_ns), or None: no such regular file


def digest(*parts: str) -> str:
    """A 64-bit BLAKE2b digest of ``parts`` as 16 hex digits (the parts kept apart)."""
    h = blake2b(digest_size=8)
    for part in parts:
        data = part.encode("utf-8", "surrogateescape")
        h.update(b"%d:" % len(data))
        h.update(data)
    return h.hexdigest()


def file_stat(path: str, stat: Callable[[str], os.stat_result] = os.stat) -> Stat:
    """(size, mtime_ns) of a regular file, or None."""
    try:
        st = stat(path)
    except (OSError, ValueError):
        return None
    if (st.st_mode & 0o170000) != 0o100000:
        return None
    return st.st_size, st.st_mtime_ns


class Folders:
    """``stat`` of many files in few folders: each folder opened once and each file looked
    up in it (``fstatat``), not walked to from ``/`` every time: a fifth less time a stat,
    which is most of a re-run that finds everything up to date."""

    LIMIT = 256  # folders held open at once (then all are closed and opened again)

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}

    def stat(self, path: str) -> os.stat_result:
        """``os.stat(path)``, through the open folder."""
        folder, _, name = path.rpartition("/")
        fd = self._fds.get(folder)
        if fd is None:
            fd = self._open(folder)
        return os.stat(name, dir_fd=fd) if fd >= 0 and name else os.stat(path)

    def _open(self, folder: str) -> int:
        if len(self._fds) >= self.LIMIT:
            self.close()
        try:  # O_NONBLOCK: a FIFO where a folder should be is refused, not waited on
            fd = os.open(folder or "/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
                         | os.O_NONBLOCK)
        except (OSError, ValueError):
            fd = -1
        self._fds[folder] = fd
        return fd

    def close(self) -> None:
        """Close every folder held open."""
        for fd in self._fds.values():
            if fd >= 0:
                os.close(fd)
        self._fds.clear()


class Snapshot:
    """Each source's state, read once per run: every stage that meets an item judges it
    by the same size and mtime, even if the file changes while the run goes on (it is
    then redone next time, never skipped with a value made from other content)."""

    def __init__(self, workdir: str, keep: bool = True) -> None:
        self.workdir = os.path.abspath(workdir)
        self._prefix = self.workdir.rstrip("/") + "/"
        self._stats: dict[str, Stat] = {}
        self._keep = keep
        self._folders = Folders()

    def stat(self, path: str) -> Stat:
        """The state of ``path`` as this run first saw it."""
        if not self._keep:
            return file_stat(path, self._folders.stat)
        try:
            return self._stats[path]
        except KeyError:
            st = self._stats[path] = file_stat(path, self._folders.stat)
            return st

    def close(self) -> None:
        """Let go of the folders held open (the snapshot still answers after)."""
        self._folders.close()

    def rel(self, path: str) -> str:
        """``path`` below the working directory (as it is, when outside)."""
        return path[len(self._prefix):] if path.startswith(self._prefix) else path

    def file_idents(self, sources: list[str]) -> list[tuple[str, Stat]]:
        """:meth:`ident` of many files at once (the path of a no-op re-run: no call per
        file but the stat)."""
        prefix, cut, stat, out = self._prefix, len(self._prefix), self.stat, []
        for src in sources:
            rel = src[cut:] if src.startswith(prefix) else src
            out.append(("f:" + (rel if rel.isascii() else safe_text(rel)), stat(src)))
        return out

    def ident(self, source: str | None, value: Any) -> tuple[str | None, Stat]:
        """An item's identity and its source's state; (None, None) for an item that
        cannot be tracked (a value that is not plain JSON)."""
        if source is not None:
            return "f:" + safe_text(self.rel(source)), self.stat(source)
        text = encode(value)
        if text is None:
            return None, None
        named = None
        if isinstance(value, str) and value and "\0" not in value:
            named = self.stat(os.path.join(self.workdir, value))
        return "v:" + text, named

    def unchanged(self, state: str) -> str | None:
        """:func:`still` for outputs recorded below this working directory."""
        return still(state, self._prefix, self._folders.stat)

    def outs(self, paths: tuple[str, ...]) -> str:
        """The state of output files, as recorded and compared ("" for none)."""
        return outs_state(paths, self.rel)


def outs_state(paths: tuple[str, ...], rel: Any = None) -> str:
    """Each output's path, size, mtime_ns and inode (empty for a missing file), joined by
    NUL characters, which no path holds: compared as a string, made without JSON."""
    if not paths:
        return ""
    parts = []
    for p in paths:
        try:
            st = os.stat(p)
            parts.append(f"{rel(p) if rel else p}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}")
        except (OSError, ValueError):
            parts.append(f"{rel(p) if rel else p}\0\0\0")
    return "\0".join(parts)


def missing_outputs(state: str) -> list[str]:
    """The paths of an outputs' state whose file was missing."""
    fields = state.split("\0") if state else []
    return [fields[i] for i in range(0, len(fields) - 3, 4) if fields[i + 1] == ""]


def still(state: str, prefix: str,
          stat: Callable[[str], os.stat_result] = os.stat) -> str | None:
    """Do the outputs of a recorded state still hold what was recorded (path, size,
    mtime_ns, inode)? None when they do, else "missing" or "changed". ``prefix``: the
    working directory and a slash, for the paths recorded below it."""
    fields = state.split("\0")
    for i in range(0, len(fields) - 3, 4):
        path = fields[i]
        try:
            st = stat(path if path[:1] == "/" else prefix + path)
        except (OSError, ValueError):
            return "missing"
        if fields[i + 1] != str(st.st_size) or fields[i + 2] != str(st.st_mtime_ns) \
                or fields[i + 3] != str(st.st_ino):
            return "changed"
    return None


def encode(value: Any) -> str | None:
    """``value`` as JSON when JSON gives it back exactly (numbers, strings, booleans,
    None, lists and string-keyed mappings of those), else None."""
    if type(value) in (int, str, bool) or value is None:
        return json.dumps(value)
    if type(value) is float:
        return repr(value) if math.isfinite(value) else json.dumps(value)
    if not _plain(value, 0):
        return None
    try:
        return json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return None


def _plain(value: Any, depth: int) -> bool:
    if depth > 20:
        return False
    kind = type(value)
    if kind in (int, str, bool, float) or value is None:
        return True
    if kind is list:
        return all(_plain(v, depth + 1) for v in value)
    if kind is dict:
        return all(type(k) is str and _plain(v, depth + 1) for k, v in value.items())
    return False


def safe_text(text: str) -> str:
    """``text`` as SQLite can store it: a name that is not UTF-8 (its bytes kept by
    Python as lone surrogates) gets them written as ``\\xNN``."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text


def keep(value: Any, transient: str) -> str | None:
    """The JSON kept for a value, or None when it is not kept: too large, not plain,
    or a path under ``transient`` (an image spilled for this run only)."""
    if isinstance(value, str) and transient and value.startswith(transient):
        return None
    text = encode(value)
    return text if text is not None and len(text) <= KEEP_LIMIT else None
