"""Glob patterns walked over the file system (SPEC 1.2): which files an input names.

Globs are walked with ``os.scandir``, never ``glob.glob``: symlinks are
followed, but each real directory is entered once per pattern state (so a link
loop ends) and each real file is yielded once (dedupe by real path).
Hidden names follow the shell's rule: ``*``, ``?`` and ``**`` never match a
name starting with ``.``; a pattern component that itself starts with ``.``
(``.cache``, ``.*.jpg``) does, and the fixed prefix before the first wildcard
is taken as written. Anything under a ``.flow/`` folder is never an input.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterable, Iterator

MAGIC = re.compile(r"[*?\[]")  # a path component with one of these is a pattern
_STARSTAR = "**"


def glob_files(patterns: Iterable[str], workdir: str, exclude: Iterable[str] = (),
               exclude_paths: frozenset[str] = frozenset(),
               skip: Callable[[str], object] | None = None,
               ignore_case: bool = False) -> tuple[list[tuple[str, str]], int]:
    """Regular files matching any pattern, as sorted ``(path, root)`` pairs.

    Also returns how many matching files were dropped by ``exclude``,
    ``exclude_paths`` or ``skip`` (for a helpful "no match" message).
    Each real file appears once: of several names for it, the first in sort order.
    Matching is case-sensitive; ``ignore_case`` is only for saying why nothing matched.
    """
    workdir = os.path.abspath(workdir)
    excluders = [(os.path.isabs(p), re.compile(glob_regex(p))) for p in exclude]
    excluded = {os.path.normpath(p) for p in exclude_paths}
    prefix = workdir.rstrip("/") + "/"

    def dropped(path: str, real: str | None = None) -> object:
        if excluders:
            rel = path[len(prefix):] if path.startswith(prefix) else path
            if any(rx.fullmatch(path if absolute else rel) for absolute, rx in excluders):
                return True
        if path in excluded or (real is not None and real in excluded):
            return True
        return real is not None and skip is not None and (
            skip(path) or (real != path and skip(real)))

    found: dict[str, tuple[str, str]] = {}  # path -> (root, real path)
    n_dropped = 0
    for pattern in patterns:
        for path, real, root in _walk_pattern(pattern, workdir, dropped, ignore_case):
            if path in found:
                continue
            if dropped(path, real):
                n_dropped += 1
                continue
            found[path] = (root, real)
    out: list[tuple[str, str]] = []
    seen_real: set[str] = set()
    # Sorted folder by folder: "/" sorts below every character a name can hold (a list of
    # components per path would do the same at five times the memory).
    for path in sorted(found, key=lambda p: p.replace("/", "\0")):
        root, real = found[path]
        if real not in seen_real:
            seen_real.add(real)
            out.append((path, root))
    return out, n_dropped


def _split_pattern(pattern: str, workdir: str) -> tuple[str, list[str]]:
    """The absolute fixed root and the wildcard components after it."""
    base = "/" if os.path.isabs(pattern) else workdir
    comps = [c for c in pattern.replace(os.sep, "/").split("/") if c not in ("", ".")]
    fixed: list[str] = []
    for c in comps:
        if MAGIC.search(c):
            break
        fixed.append(c)
    rest: list[str] = []
    for c in comps[len(fixed):]:
        if not (c == _STARSTAR and rest and rest[-1] == _STARSTAR):  # a/**/**/b is a/**/b
            rest.append(c)
    return os.path.normpath(os.path.join(base, *fixed)), rest


def _in_flow_dir(path: str) -> bool:
    return "/.flow/" in f"/{path}/"


def _walk_pattern(pattern: str, workdir: str, dropped: Callable[[str], object],
                  ignore_case: bool = False) -> Iterator[tuple[str, str, str]]:
    """``(path, realpath, root)`` of each regular file ``pattern`` matches."""
    root, comps = _split_pattern(pattern, workdir)
    while ignore_case and not os.path.exists(root) and root != os.path.dirname(root):
        # The fixed part may be spelt in another case too: match it name by name.
        comps.insert(0, os.path.basename(root))  # a fixed part has no wildcard to escape
        root = os.path.dirname(root)
    rel_root = "" if root == workdir else (
        root[len(workdir) + 1:] if root.startswith(workdir + "/") else root)
    if _in_flow_dir(rel_root):
        return
    if not comps:  # no wildcard: the pattern names one file
        if os.path.isfile(root):
            yield root, os.path.realpath(root), os.path.dirname(root)
        return
    last = len(comps) - 1
    flags = re.IGNORECASE if ignore_case else 0
    match = [None if c == _STARSTAR else re.compile(fnmatch.translate(c), flags).match
             for c in comps]
    dotted = [c.startswith(".") for c in comps]  # may match hidden names

    def closure(states: set[int]) -> frozenset[int]:
        # "**" also matches no folder at all: the next component applies here too.
        more = {i + 1 for i in states if match[i] is None and i < last}
        return frozenset(states | more)

    try:
        st = os.stat(root)
    except OSError:
        return
    start = closure({0})
    visited = {(st.st_dev, st.st_ino, start)}
    stack = [(root, os.path.realpath(root), start)]
    while stack:
        folder, real_folder, states = stack.pop()
        linked = real_folder != folder  # else a file's real path is its path (no new string)
        try:
            entries = list(os.scandir(folder))
        except OSError:  # unreadable or vanished: nothing to take from it
            continue
        for e in entries:
            name = e.name
            hidden = name[0] == "."
            try:
                is_dir = e.is_dir()  # follows symlinks
            except OSError:
                continue
            if is_dir:
                if name == ".flow":
                    continue
                nxt: set[int] = set()
                for i in states:
                    m = match[i]
                    if m is None:
                        if not hidden:
                            nxt.add(i)
                    elif i < last and (dotted[i] or not hidden) and m(name):
                        nxt.add(i + 1)
                if not nxt or dropped(e.path):
                    continue
                key_states = closure(nxt)
                try:
                    dst = e.stat()
                except OSError:
                    continue
                key = (dst.st_dev, dst.st_ino, key_states)
                if key in visited:  # a symlink loop, or a folder seen by another name
                    continue
                visited.add(key)
                real = os.path.realpath(e.path) if e.is_symlink() else f"{real_folder}/{name}"
                stack.append((e.path, real, key_states))
                continue
            ok = False
            for i in states:
                if i != last:
                    continue
                m = match[i]
                ok = not hidden if m is None else (dotted[i] or not hidden) and bool(m(name))
                if ok:
                    break
            try:
                if not ok or not e.is_file():  # regular files only (through links)
                    continue
            except OSError:
                continue
            path = e.path
            real = os.path.realpath(path) if e.is_symlink() else (
                f"{real_folder}/{name}" if linked else path)
            yield path, real, root


def glob_regex(pattern: str) -> str:
    """A regex for a glob over '/'-separated paths: ``*`` and ``?`` stay within a
    folder, ``**/`` is any number of folders, a trailing ``/**`` everything below."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        if pattern.startswith("**/", i) and (i == 0 or pattern[i - 1] == "/"):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == n:
            out.append("(?:/.*)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2:]:
            j = pattern.index("]", i + 2)
            body = pattern[i + 1:j]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = j + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)
