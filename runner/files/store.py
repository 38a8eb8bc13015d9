"""The SQLite file behind the journal: found, checked, made, or set aside.

The journal (:mod:`runner.files.journal`) reads and writes rows; this module owns the
file itself: ``.flow`` made (or a clear error when it cannot be), odd files refused
before anything opens them (a FIFO would hang), a store checked before it is trusted
(SQLite, flow's, this format, undamaged) and one that fails set aside under a new name.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time

from runner.errors import FlowError

FOLDER = ".flow"
NAME = "journal.db"
SCHEMA = 1  # bump when the tables change: an older store is then set aside
APP_ID = 0x666C6F77  # "flow": tells our store from another program's SQLite file
MIN_FREE = 1 << 20  # bytes the journal's file system must have free before a run
_TABLES = (
    "CREATE TABLE meta(k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID",
    "CREATE TABLE items(sig TEXT, ident TEXT, size INTEGER, mtime INTEGER, okey TEXT,"
    " outs TEXT, status INTEGER, value TEXT, secs REAL, PRIMARY KEY(sig, ident))"
    " WITHOUT ROWID",
    "CREATE TABLE slots(wf TEXT, stage TEXT, sig TEXT, settings TEXT, code TEXT,"
    " digest TEXT, secs REAL, PRIMARY KEY(wf, stage)) WITHOUT ROWID",
    "CREATE TABLE checks(digest TEXT PRIMARY KEY, dirs TEXT, at REAL)",
)


def journal_path(workdir: str) -> str:
    """Where the journal of runs in ``workdir`` lives."""
    return os.path.join(workdir, FOLDER, NAME)


def ensure_folder(workdir: str) -> str:
    """``.flow`` in ``workdir``, made if missing; FlowError (exit 2) when it cannot be."""
    folder = os.path.join(workdir, FOLDER)
    try:
        os.makedirs(folder, exist_ok=True)
    except FileExistsError:
        raise FlowError.single(f"{show(folder)} is a file, not a folder: remove or rename "
                               "it (flow keeps its record of what is made there)",
                               file=show(folder)) from None
    except OSError as exc:
        raise cannot(os.path.join(folder, NAME), exc) from None
    return folder


def refuse_odd_files(path: str) -> None:
    """A FIFO, a folder or a device where the store should be: refused, never opened
    (opening a FIFO would hang)."""
    for p in (path, path + "-wal", path + "-shm"):
        try:
            st = os.stat(p)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise cannot(p, exc) from None
        if not stat.S_ISREG(st.st_mode):
            raise FlowError.single(f"{show(p)} is not a regular file: remove it (flow keeps "
                                   "its record of what is made there)", file=show(p))


def cannot(path: str, exc: OSError) -> FlowError:
    """The error for a store (or ``.flow``) that cannot be written, and why."""
    why = exc.strerror or str(exc)
    return FlowError.single(f"cannot write flow's record in {show(os.path.dirname(path))}: "
                            f"{why}", file=show(path),
                            hint="flow records what it made there; make it writable, or run "
                                 "in another folder (--workdir)")


def show(path: str) -> str:
    """``path`` as messages name it: relative to here when below."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


class Unreadable(Exception):
    """The store is not one this flow can trust; the message says why."""


def reason(exc: BaseException) -> str:
    """An exception's message, on its own (its class name when it has none)."""
    return str(exc).strip() or type(exc).__name__


def open_store(path: str, readonly: bool, verify: bool = True) -> sqlite3.Connection:
    """A connection to a store we trust; Unreadable when it is not one. ``verify``: read
    every page to find damage (a quick look for a hint may leave it out)."""
    if readonly:
        conn = sqlite3.connect(f"file:{_uri(path)}?mode=ro", uri=True, timeout=10)
    else:
        conn = sqlite3.connect(path, timeout=10)
    try:
        _check(conn, readonly, verify)
    except BaseException:
        conn.close()
        raise
    return conn


def _uri(path: str) -> str:
    from urllib.parse import quote

    return quote(os.path.abspath(path))


def _check(conn: sqlite3.Connection, readonly: bool, verify: bool) -> None:
    try:
        app = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise Unreadable(reason(exc)) from None
    if app == 0 and version == 0 and tables == 0:  # a new, empty file
        if readonly:
            raise Unreadable("empty")
        _create(conn)
        return
    if app != APP_ID:
        raise Unreadable("not flow's journal")
    if version > SCHEMA:
        raise Unreadable(f"written by a newer flow (format {version}, this flow reads "
                         f"{SCHEMA})")
    if version < SCHEMA or _shape(conn) != _SHAPE:
        raise Unreadable(f"an older format ({version})")
    try:
        ok = conn.execute("PRAGMA quick_check").fetchone()[0] if verify else "ok"
    except sqlite3.DatabaseError as exc:
        raise Unreadable(reason(exc)) from None
    if ok != "ok":
        raise Unreadable(f"damaged: {ok}")
    if not readonly:
        _tune(conn)


_SHAPE = (("checks", "items", "meta", "slots"),
          ("sig", "ident", "size", "mtime", "okey", "outs", "status", "value", "secs"))


def _shape(conn: sqlite3.Connection) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The tables and the item columns a store has (ours, or an older format's)."""
    try:
        tables = tuple(sorted(r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")))
        return tables, tuple(row[1] for row in conn.execute("PRAGMA table_info(items)"))
    except sqlite3.DatabaseError as exc:
        raise Unreadable(reason(exc)) from None


def _tune(conn: sqlite3.Connection) -> None:
    # WAL: readers (a plan, an explanation) never wait for the run; NORMAL sync: a
    # killed flow loses nothing committed (only a power cut may lose the last ones).
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA journal_size_limit=4194304")  # the WAL shrinks back to 4 MiB


def _create(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA auto_vacuum=INCREMENTAL")  # before the first table
    _tune(conn)
    with conn:
        for sql in _TABLES:
            conn.execute(sql)
        conn.execute(f"PRAGMA application_id={APP_ID}")
        conn.execute(f"PRAGMA user_version={SCHEMA}")


def set_aside(path: str, why: str) -> str:
    """Move a store we cannot trust out of the way; the one-line notice saying so."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = f"{path}.bad-{stamp}"
    try:
        for suffix in ("", "-wal", "-shm"):
            if os.path.lexists(path + suffix):
                os.replace(path + suffix, target + suffix)
    except OSError as exc:
        raise cannot(path, exc) from None
    return (f"flow's record {show(path)} could not be used ({why}); set aside as "
            f"{show(target)}: everything reruns")
