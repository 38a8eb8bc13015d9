"""The journal: what was made, from what, and how it went, in ``.flow/journal.db``.

SQLite in WAL mode, from the standard library. Why not an append-only log: a
lookup reads only the rows it asks for, so a run over a million items keeps a
million records on disk, not in memory; a write is a transaction, so a run
killed at any instant (SIGKILL included) leaves every record it committed and
none half-written; rows are replaced in place, so the file stays near its
compacted size without a rewrite at the end.

One row per item of a stage, keyed by the stage's signature and the item's
identity (see :mod:`runner.run.uptodate`): the source's size and mtime when it
was made, the state of its outputs, whether it succeeded, was dropped or failed,
its value when it is small, and the seconds it took. A whole stage (a range, a
reduce) is a row whose identity is ``@`` and the digest of its inputs. ``slots``
remember each stage's last signature per workflow, to tell "settings changed"
from "new" and to drop what a changed stage can never use again; ``checks`` the
output paths that passed the check for collisions (a digest of templates and items),
so an unchanged item set is not checked path by path again.

A store that cannot be read (not a database, truncated, another program's, or
written by a newer flow) is set aside under a new name and everything reruns:
never a wrong skip, never a traceback. A ``.flow`` that cannot be written is a
FlowError before any work starts.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

from runner.files.store import (
    MIN_FREE,
    NAME,
    Unreadable,
    cannot,
    ensure_folder,
    journal_path,
    open_store,
    reason,
    refuse_odd_files,
    set_aside,
    show,
)

BATCH = 500  # identities per lookup query

OK, DROPPED, FAILED, INCOMPLETE = 0, 1, 2, 3

_SELECT = "SELECT ident, size, mtime, okey, outs, status, value, secs FROM items WHERE sig=?"
_RANGE = _SELECT + " AND ident BETWEEN ? AND ?"
CHECKS_KEPT = 32  # output checks remembered (one per workflow and item set)


class Record(NamedTuple):
    """One item as the journal last saw it made (or fail). A NamedTuple, immutable like a
    frozen dataclass but made ten times faster: a no-op run reads one per item."""

    ident: str  # the item's identity (runner.files.identity)
    size: int | None  # the source's size and mtime_ns then (None: no source file)
    mtime: int | None
    okey: str  # what its output paths depended on besides its identity (runner.run.chains)
    outs: str  # the outputs' state then (runner.files.identity.outs_state)
    status: int  # OK, DROPPED, FAILED or INCOMPLETE
    value: str | None  # the value as JSON when kept; the reason when it failed
    secs: float  # seconds it took


@dataclass(frozen=True)
class Slot:
    """A stage of a workflow as its last run left it."""

    sig: str
    settings: str
    code: str
    digest: str  # a whole-stage record's input digest ("" for item by item)
    secs: float  # seconds per item, on average


class Journal:
    """An open journal; every method turns a database error into "no record"."""

    def __init__(self, path: str, conn: sqlite3.Connection | None, writable: bool) -> None:
        self.path = path
        self._conn = conn
        self.writable = writable
        self.broken: str | None = None  # why records stopped being read or written
        self._sql: dict[int, str] = {}
        # Items come in sorted order: a window's records are found by walking the index
        # from its first identity to its last, unless other records lie in between.
        self._ranged = True

    # -- opening -----------------------------------------------------------------------------
    @classmethod
    def for_run(cls, workdir: str) -> tuple[Journal, str | None]:
        """The journal a run writes, and a one-line notice if a bad store was set aside.

        Raises FlowError when ``.flow`` cannot be written (read-only, a file, a full disk).
        """
        path = os.path.join(ensure_folder(workdir), NAME)
        refuse_odd_files(path)
        notice = None
        try:
            conn = open_store(path, readonly=False)
        except Unreadable as why:
            notice = set_aside(path, str(why))
            conn = open_store(path, readonly=False)
        except sqlite3.Error as exc:
            raise cannot(path, OSError(0, reason(exc))) from None
        journal = cls(path, conn, writable=True)
        journal._probe()
        return journal, notice

    @classmethod
    def for_reading(cls, workdir: str, verify: bool = True) -> tuple[Journal, str | None]:
        """The journal as it is, for a plan or an explanation: nothing is written, a bad
        store is left where it is (and counts as empty). ``verify`` False: a quick look,
        for a hint only (its pages are not all read for damage)."""
        path = journal_path(workdir)
        try:
            st = os.stat(path)
        except OSError:
            return cls(path, None, writable=False), None
        if not stat.S_ISREG(st.st_mode):
            return cls(path, None, False), f"{show(path)} is not a regular file: ignored"
        try:
            return cls(path, open_store(path, True, verify), writable=False), None
        except (Unreadable, sqlite3.Error) as why:
            return cls(path, None, False), (f"{show(path)} cannot be read ({why}): a run "
                                            "would set it aside and redo everything")

    def _probe(self) -> None:
        """Write once now, so a store that cannot take writes fails before any work."""
        try:
            vfs = os.statvfs(os.path.dirname(self.path))
            if vfs.f_bavail * vfs.f_frsize < MIN_FREE:
                raise OSError(28, "no space left on device")
            assert self._conn is not None
            with self._conn:
                self._conn.execute("INSERT OR REPLACE INTO meta VALUES('opened', ?)",
                                   (str(time.time()),))
        except OSError as exc:
            self.close()
            raise cannot(self.path, exc) from None
        except sqlite3.Error as exc:
            self.close()
            raise cannot(self.path, OSError(0, reason(exc))) from None

    # -- reading -----------------------------------------------------------------------------
    def lookup(self, sig: str, idents: Sequence[str]) -> dict[str, Record]:
        """The records of ``idents`` under ``sig`` (those that exist)."""
        if self._conn is None or not idents:
            return {}
        out: dict[str, Record] = {}
        make = partial(tuple.__new__, Record)  # a row is a Record's fields, in order
        try:
            for i in range(0, len(idents), BATCH):
                part = idents[i:i + BATCH]
                if self._ranged:  # the rows between the first and last: one index walk
                    wanted = set(part)
                    rows = self._conn.execute(_RANGE, (sig, min(part), max(part))).fetchall()
                    got = {r[0]: make(r) for r in rows if r[0] in wanted}
                    self._ranged = len(rows) <= 2 * len(part) + 16  # else others lie between
                    out.update(got)
                    continue
                sql = self._sql.get(len(part))
                if sql is None:
                    sql = self._sql[len(part)] = f"{_SELECT} AND ident IN " \
                        f"({','.join('?' * len(part))})"
                for row in self._conn.execute(sql, (sig, *part)):
                    out[row[0]] = make(row)
        except sqlite3.Error as exc:
            self._break(exc)
            return {}
        return out

    def get(self, sig: str, ident: str) -> Record | None:
        """One record, or None."""
        return self.lookup(sig, [ident]).get(ident)

    def slot(self, wf: str, stage: str) -> Slot | None:
        """What the last run of workflow ``wf`` left of one of its stages."""
        row = self._one("SELECT sig, settings, code, digest, secs FROM slots "
                        "WHERE wf=? AND stage=?", (wf, stage))
        return Slot(*row) if row else None

    def checked(self, digest: str) -> list[str] | None:
        """The output folders of an earlier output check of ``digest``, or None."""
        row = self._one("SELECT dirs FROM checks WHERE digest=?", (digest,))
        if row is None:
            return None
        try:
            dirs = json.loads(row[0])
        except ValueError:
            return None
        return dirs if isinstance(dirs, list) and all(isinstance(d, str) for d in dirs) \
            else None

    def set_checked(self, digest: str, dirs: list[str]) -> None:
        """Remember that the output paths of ``digest`` were checked (and their folders)."""
        self._write("INSERT OR REPLACE INTO checks VALUES (?,?,?)",
                    [(digest, json.dumps(dirs), time.time())])
        self._write("DELETE FROM checks WHERE digest NOT IN (SELECT digest FROM checks "
                    f"ORDER BY at DESC LIMIT {CHECKS_KEPT})", [()])

    def count(self, sig: str) -> int:
        """How many records a stage signature has."""
        row = self._one("SELECT count(*) FROM items WHERE sig=?", (sig,))
        return row[0] if row else 0

    def idents(self, sig: str) -> list[str]:
        """Every identity recorded under ``sig`` (for pruning; the caller knows it is small
        enough or needs it anyway)."""
        if self._conn is None:
            return []
        try:
            return [r[0] for r in self._conn.execute("SELECT ident FROM items WHERE sig=?",
                                                     (sig,))]
        except sqlite3.Error as exc:
            self._break(exc)
            return []

    def _one(self, sql: str, args: tuple) -> tuple | None:
        if self._conn is None:
            return None
        try:
            return self._conn.execute(sql, args).fetchone()
        except sqlite3.Error as exc:
            self._break(exc)
            return None

    # -- writing -----------------------------------------------------------------------------
    def put(self, rows: Iterable[tuple]) -> None:
        """Record items, committed at once: ``(sig, ident, size, mtime, okey, outs, status,
        value, secs)`` each."""
        self._write("INSERT OR REPLACE INTO items VALUES (?,?,?,?,?,?,?,?,?)", rows)

    def set_slot(self, wf: str, stage: str, slot: Slot) -> None:
        """Remember a stage's signature; the records of the one it replaces go."""
        old = self.slot(wf, stage)
        self._write("INSERT OR REPLACE INTO slots VALUES (?,?,?,?,?,?,?)",
                    [(wf, stage, slot.sig, slot.settings, slot.code, slot.digest, slot.secs)])
        if old is not None and old.sig != slot.sig:
            self.drop_sig(old.sig)

    def drop_sig(self, sig: str) -> None:
        """Forget every record of a signature no stage of any workflow has any more."""
        self._write("DELETE FROM items WHERE sig=? AND NOT EXISTS "
                    "(SELECT 1 FROM slots WHERE slots.sig=?)", [(sig, sig)])

    def keep_whole(self, sig: str, ident: str) -> None:
        """Of a stage judged as a whole, keep only the record of its latest inputs."""
        self._write("DELETE FROM items WHERE sig=? AND ident>='@' AND ident<'A' AND ident!=?",
                    [(sig, ident)])

    def forget(self, sig: str, idents: Iterable[str]) -> None:
        """Drop the records of items that are gone (their source was deleted)."""
        self._write("DELETE FROM items WHERE sig=? AND ident=?", ((sig, i) for i in idents))

    def _write(self, sql: str, rows: Iterable[tuple]) -> None:
        if self._conn is None or not self.writable or self.broken:
            return
        try:
            with self._conn:
                self._conn.executemany(sql, rows)
        except sqlite3.Error as exc:
            self._break(exc)

    def _break(self, exc: sqlite3.Error) -> None:
        """Stop reading and writing: what is recorded is kept, the rest reruns next time."""
        if self.broken is None:
            self.broken = reason(exc)

    def compact(self) -> None:
        """Give back the space deleted records held, when it is a large share of the file."""
        if self._conn is None or not self.writable or self.broken:
            return
        try:
            free = self._conn.execute("PRAGMA freelist_count").fetchone()[0]
            pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
            if free * 4 > pages:
                self._conn.execute("PRAGMA incremental_vacuum")
        except sqlite3.Error as exc:
            self._break(exc)

    def close(self) -> None:
        """Checkpoint and close (the WAL file goes away)."""
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None


