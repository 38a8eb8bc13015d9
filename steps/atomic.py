"""The one atomic writer: every file flow writes is whole under its final name, or absent.

The bytes go to a hidden temporary name beside the target (same folder, so the
rename stays within one file system), ``.<name>.<pid>.<8 hex>.part``: the pid is
the writer's, so a sweep can tell a dead writer's leftover from a live one's
work (:func:`writer_of`). Then: flush, check that the file holds every byte
written, fsync, rename over the target (``os.replace`` is atomic). A crash, a
kill or a failed write leaves the older file or none, never half of one; with
``sync`` that holds across a power cut too. The folder is not synced after the
rename: a rename that a power cut undoes leaves the older file or none (whole
still), and the journal, which keeps each output's inode, size and mtime, finds
it and makes it again. Syncing it too would double what every output pays to the
disk (about 3 ms a sync here: for three web sizes of a photo, a tenth of its work).

Every byte goes through Python's own file object, whose writes never lose a byte
without raising: a writer such as Pillow's encoders, given a file descriptor,
writes to it from C and takes a short write on a full disk for success. A full
disk fails the write as "no space left on device", naming the file.

Inside :func:`confined` (the engine runs every task inside it, with the working
directory as the root, unless ``--allow-outside``) the folder is reached from the
root one component at a time, each opened with ``O_NOFOLLOW`` relative to the one
before; a symlink on the way is followed by hand only while it stays below the
root; the temporary file is made and renamed relative to that folder's
descriptor. A folder swapped for a symlink to somewhere else mid-run is refused
at the write, not only when the run was checked.

A replaced file keeps its permission bits; a new one gets what the umask allows.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import io
import os
import re
from collections.abc import Iterator
from typing import IO, Any

# Keeps the temporary name within the usual 255-byte name limit.
_MAX_STEM = 100
_TEMP = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.part$")
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_MAX_LINKS = 40  # symlinks followed on the way to one folder (the kernel's own limit)
_FULL = (errno.ENOSPC, errno.EDQUOT)

_root: contextvars.ContextVar[str | None] = contextvars.ContextVar("flow_write_root",
                                                                   default=None)


@contextlib.contextmanager
def confined(root: str | None) -> Iterator[None]:
    """Within the block, this thread's writes stay below ``root`` (None: anywhere)."""
    token = _root.set(os.path.realpath(root) if root else None)
    try:
        yield
    finally:
        _root.reset(token)


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


# -- reaching the folder ------------------------------------------------------------------

def _outside(shown: str, target: str | None = None) -> PermissionError:
    via = f" through a symlink: {shown} -> {target}" if target else f": {shown}"
    exc = PermissionError(f"output path leaves the working directory{via} (found as the "
                          "file was written; use --allow-outside to allow it)")
    exc.errno = errno.EXDEV
    return exc


def _parts_below(path: str, root: str) -> list[str] | None:
    """``path``'s components below ``root`` (lexically), or None if it is not below."""
    base = root.rstrip("/")
    if path == root:
        return []
    if path.startswith(base + "/"):
        return [p for p in path[len(base) + 1:].split("/") if p]
    return None


def _open_folder(folder: str, root: str | None) -> int:
    """A descriptor of ``folder``, made if missing; below ``root`` unless root is None."""
    if root is None:
        os.makedirs(folder, exist_ok=True)
        return os.open(folder, _DIR)
    parts = _parts_below(folder, root)
    if parts is None:  # spelled through a link to the root (a symlinked working directory)
        parts = _parts_below(os.path.realpath(folder), root)
    if parts is None:
        raise _outside(folder)
    return _walk(root, parts)


def _walk(root: str, parts: list[str]) -> int:
    """Open ``root``/``parts`` one component at a time, never leaving ``root``."""
    stack = [os.open(root, _DIR)]
    names: list[str] = []  # the folders below root that stack[1:] holds, for messages
    todo = list(reversed(parts))
    links = misses = 0
    try:
        while todo:
            name = todo.pop()
            if name in ("", "."):
                continue
            if name == "..":
                if len(stack) == 1:
                    raise _outside("/".join([*names, *reversed(todo)]) or "..")
                os.close(stack.pop())
                names.pop()
                continue
            try:
                fd = os.open(name, _DIR | os.O_NOFOLLOW, dir_fd=stack[-1])
            except FileNotFoundError:
                misses += 1
                if misses > 100:  # made and removed again and again under us
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o777, dir_fd=stack[-1])
                todo.append(name)
                continue
            except OSError as exc:
                if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                    raise
                try:
                    target = os.readlink(name, dir_fd=stack[-1])
                except OSError:
                    raise NotADirectoryError(errno.ENOTDIR, "not a folder",
                                             "/".join([*names, name])) from None
                links += 1
                if links > _MAX_LINKS:
                    raise OSError(errno.ELOOP, "too many symlinks",
                                  "/".join([*names, name])) from None
                if os.path.isabs(target):
                    below = _parts_below(os.path.normpath(target), root)
                    if below is None:
                        raise _outside("/".join([*names, name]), target) from None
                    while len(stack) > 1:
                        os.close(stack.pop())
                    names.clear()
                    todo.extend(reversed(below))
                else:
                    todo.extend(reversed(target.split("/")))
                continue
            stack.append(fd)
            names.append(name)
        return stack.pop()
    finally:
        for fd in stack:
            os.close(fd)


# -- writing ------------------------------------------------------------------------------

class _Checked:
    """A binary file whose bytes all go through Python's ``write`` (``fileno()`` is
    refused, so a writer cannot write to the descriptor behind our back), and which
    knows how far it wrote."""

    def __init__(self, fh: Any) -> None:
        self._fh = fh
        self.end = 0

    def write(self, data: Any) -> int:
        n = self._fh.write(data)
        pos = self._fh.tell()
        if pos > self.end:
            self.end = pos
        return n

    def fileno(self) -> int:
        raise io.UnsupportedOperation("fileno: write through the file object")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


def _shown(final: str) -> str:
    root = _root.get()
    if root:
        below = _parts_below(final, root)
        if below:
            return "/".join(below)
    return final


def _clear(exc: OSError, shown: str) -> OSError:
    """A full disk said in words, with the file's name; other errors as they are."""
    if exc.errno not in _FULL:
        return exc
    what = "no space left on device" if exc.errno == errno.ENOSPC else "disk quota exceeded"
    out = OSError(f"{what} writing {shown}")
    out.errno = exc.errno
    return out


def _commit(dir_fd: int, tmp: str, name: str) -> None:
    """Rename ``tmp`` over ``name`` in the folder ``dir_fd``, keeping ``name``'s permission
    bits (the folder is not synced: see the module docstring)."""
    with contextlib.suppress(FileNotFoundError):
        mode = os.stat(name, dir_fd=dir_fd).st_mode & 0o7777
        if os.stat(tmp, dir_fd=dir_fd).st_mode & 0o7777 != mode:
            os.chmod(tmp, mode, dir_fd=dir_fd)
    os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


@contextlib.contextmanager
def _beside(path: str | os.PathLike[str]) -> Iterator[tuple[int, str, str, str]]:
    """``(folder descriptor, temporary name, final name, final path)``; the folder is
    reached safely (see the module docstring) and made if missing. The temporary file
    is removed if the body raises or is interrupted; a full disk is said in words."""
    final = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(final)
    shown = _shown(final)
    try:
        dir_fd = _open_folder(folder, _root.get())
    except OSError as exc:
        raise _clear(exc, shown) from None
    tmp = os.path.basename(temp_name(final))
    try:
        yield dir_fd, tmp, name, final
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise _clear(exc, shown) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], mode: str = "wb", *, sync: bool = True,
                encoding: str | None = None, newline: str | None = None) -> Iterator[IO[Any]]:
    """Yield an open file under a temporary name; when the body returns, check the size,
    fsync (if ``sync``) and rename it to ``path``.

    If the body raises (or is interrupted) the temporary file is deleted and an
    existing file at ``path`` is left untouched. An OSError (EIO) if the file holds
    fewer bytes than were written to it. A binary file is readable and seekable too
    (some image formats go back to fill in offsets) and has no ``fileno()``.
    """
    binary = "b" in mode
    with _beside(path) as (dir_fd, tmp, name, final):
        def opener(_: str, flags: int) -> int:
            return os.open(tmp, flags | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666,
                           dir_fd=dir_fd)

        with open(os.path.join(os.path.dirname(final), tmp), "w+b" if binary else mode,
                  encoding=encoding, newline=newline, opener=opener) as fh:
            checked = _Checked(fh) if binary else None
            yield checked or fh  # type: ignore[misc]
            fh.flush()
            written = checked.end if checked else fh.buffer.tell()  # bytes, in text mode too
            size = os.fstat(fh.fileno()).st_size
            if size < written:
                raise OSError(errno.EIO, f"short write: {size} of {written} bytes reached "
                              f"the disk for {final}")
            if sync:
                os.fsync(fh.fileno())
        _commit(dir_fd, tmp, name)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, sync: bool = True) -> Iterator[str]:
    """Yield a temporary path beside ``path`` for writers that must have a name; when the
    body returns, fsync (if ``sync``) and rename it to ``path``.

    Weaker than :func:`atomic_file`, which every flow step uses: the writer's byte
    count is unknown here (the check is only that it made the file), and a writer
    that writes to a descriptor from C may take a short write for success.
    """
    with _beside(path) as (dir_fd, tmp, name, final):
        yield os.path.join(os.path.dirname(final), tmp)
        fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        _commit(dir_fd, tmp, name)
