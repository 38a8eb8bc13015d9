"""The one atomic writer: every file flow writes is whole under its final name, or absent.

The bytes go to a hidden temporary name beside the target (same folder, so the
rename stays within one file system), ``.<name>.<pid>.<8 hex>.part``: the pid is
the writer's, so a sweep can tell a dead writer's leftover from a live one's
work (:func:`writer_of`). Then: flush, check that the file holds every byte
written, fsync, rename over the target (``os.replace`` is atomic), fsync the
folder so the rename itself is on disk. A crash, a kill or a failed write leaves
the older file or none, never half of one; with ``sync`` that holds across a
power cut too.

A replaced file keeps its permission bits; a new one gets what the umask allows.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterator
from typing import IO, Any

# Keeps the temporary name within the usual 255-byte name limit.
_MAX_STEM = 100
_TEMP = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.part$")


def temp_name(path: str) -> str:
    """A unique hidden name beside ``path``: the writer's pid and 4 random bytes in it,
    unique across every process writing into one folder at once."""
    folder, base = os.path.split(path)
    return os.path.join(folder, f".{base[:_MAX_STEM]}.{os.getpid()}.{os.urandom(4).hex()}.part")


def writer_of(name: str) -> int | None:
    """The pid of the process that writes the temporary file ``name`` (a bare file
    name), or None if :func:`temp_name` did not make it."""
    m = _TEMP.match(name)
    return int(m.group(1)) if m else None


@contextlib.contextmanager
def _beside(path: str | os.PathLike[str]) -> Iterator[tuple[str, str]]:
    """``(temporary, final)`` paths, parent folders made; the temporary file is
    deleted if the body raises or is interrupted."""
    final = os.path.abspath(os.fspath(path))
    os.makedirs(os.path.dirname(final), exist_ok=True)
    tmp = temp_name(final)
    try:
        yield tmp, final
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _commit(tmp: str, final: str, sync: bool) -> None:
    """Rename ``tmp`` over ``final`` (keeping ``final``'s permission bits), then make
    the rename durable by syncing the folder."""
    with contextlib.suppress(FileNotFoundError):
        mode = os.stat(final).st_mode & 0o7777
        if os.stat(tmp).st_mode & 0o7777 != mode:
            os.chmod(tmp, mode)
    os.replace(tmp, final)
    if sync:
        fd = os.open(os.path.dirname(final), os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        except OSError as exc:  # some file systems cannot sync a folder; the file is in place
            if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
                raise
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], mode: str = "wb", *, sync: bool = True,
                encoding: str | None = None, newline: str | None = None) -> Iterator[IO[Any]]:
    """Yield an open file under a temporary name; when the body returns, check the size,
    fsync (if ``sync``) and rename it to ``path``.

    If the body raises (or is interrupted) the temporary file is deleted and an
    existing file at ``path`` is left untouched. An OSError (EIO) if the file holds
    fewer bytes than were written to it.
    """
    with _beside(path) as (tmp, final):
        with open(tmp, mode, encoding=encoding, newline=newline) as fh:
            yield fh
            fh.flush()
            written = getattr(fh, "buffer", fh).tell()  # bytes, in text mode too
            size = os.fstat(fh.fileno()).st_size
            if size < written:
                raise OSError(errno.EIO, f"short write: {size} of {written} bytes reached "
                              f"the disk for {final}")
            if sync:
                os.fsync(fh.fileno())
        _commit(tmp, final, sync)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, sync: bool = True) -> Iterator[str]:
    """Yield a temporary path beside ``path`` for writers that want a name (Pillow's
    ``save``); when the body returns, fsync (if ``sync``) and rename it to ``path``.

    As :func:`atomic_file`, but the writer's byte count is unknown here: the check is
    that the writer made the file at all (FileNotFoundError otherwise).
    """
    with _beside(path) as (tmp, final):
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        _commit(tmp, final, sync)
