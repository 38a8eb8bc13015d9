"""Writing the journal as results land: each finished task's items, each finished stage.

The scheduler tells a :class:`Recorder` of every task that came back, every item
lost with its worker and every stage that ended; the recorder commits what it
learnt at once, so a run killed at any moment (SIGKILL included) leaves every
item it finished recorded, and the next run redoes only what was in flight.
"""

from __future__ import annotations

import os
from typing import Any

from runner.execute.base import ItemFailure, Task, TaskResult
from runner.files.identity import keep, safe_text
from runner.files.journal import DROPPED, FAILED, INCOMPLETE, OK, Journal, Slot
from runner.plan import Stage
from runner.run.branches import Branch
from runner.run.feed import Batch, lacking
from runner.run.scheduler import StageRun
from runner.run.uptodate import Judge, Key


class Recorder:
    """Records one run's results in the journal (see the module docstring)."""

    def __init__(self, journal: Journal, judge: Judge) -> None:
        self.journal = journal
        self.judge = judge
        workdir = judge.snap.workdir
        self.transient = os.path.join(workdir, ".flow", "tmp") + os.sep  # spilled images
        self.spent: dict[str, tuple[float, int]] = {}  # stage -> (seconds, items) this run

    def _sig(self, st: Stage) -> str:
        return self.judge.sigs[st.id].sig

    def _row(self, st: Stage, k: Key, outs: str, status: int, value: str | None,
             secs: float) -> tuple:
        size, mtime = k.stat or (None, None)
        return (self._sig(st), k.ident, size, mtime, k.okey, outs, status, value, secs)

    def _parts(self, st: Stage, k: Key) -> list[tuple[Stage, Key]]:
        """Where an item's records go: each branch that ran, for a tree; else the stage."""
        arms = self.judge.branches.get(st.id)
        return [(st, k)] if arms is None else [(arms[n].stage, bk) for n, bk in k.parts]

    def task_done(self, r: StageRun, task: Task, meta: Any, res: TaskResult) -> None:
        """A task came back: record each of its items (made, dropped or failed)."""
        secs, n = self.spent.get(r.stage.id, (0.0, 0))
        self.spent[r.stage.id] = (secs + res.seconds, n + task.size())
        if not isinstance(meta, Batch) or task.items is None:
            return  # a stage judged as a whole is recorded when it ends
        per = res.seconds / max(1, task.size())
        values = dict(res.values)
        failed = {f.offset: f for f in res.failures}
        arms = self.judge.branches.get(r.stage.id)
        rows = []
        for off, _, outs in task.items:
            k = meta.keys[off]
            if k.ident is None:
                continue  # a value that cannot be named: it always runs
            if arms is not None:
                rows.extend(self._tree_rows(arms, k, values.get(off), failed.get(off), per))
            elif off in failed:
                rows.append(self._row(r.stage, k, "", FAILED, safe_text(failed[off].reason),
                                      per))
            elif off in values:
                made = self.judge.snap.outs(tuple(p for _, _, p in outs))
                rows.append(self._row(r.stage, k, made, OK, keep(values[off], self.transient),
                                      per))
            else:
                rows.append(self._row(r.stage, k, "", DROPPED, None, per))
        self.journal.put(rows)

    def _tree_rows(self, arms: tuple[Branch, ...], k: Key, values: Any,
                   failure: ItemFailure | None, per: float) -> list[tuple]:
        """A tree item's records, one per branch that ran: a branch another branch's
        failure did not touch made its outputs, and is up to date next time."""
        rows = []
        for n, bk in k.parts:
            st = arms[n].stage
            if failure is not None and (not failure.branches or n in failure.branches):
                rows.append(self._row(st, bk, "", FAILED, safe_text(failure.reason), per))
            elif failure is None and values is None:  # the trunk dropped the item
                rows.append(self._row(st, bk, "", DROPPED, None, per))
            else:
                made = self.judge.snap.outs(tuple(p for _, _, p in bk.outs))
                value = keep(values[n], self.transient) if values is not None else None
                rows.append(self._row(st, bk, made, OK, value, per))
        return rows

    def item_lost(self, r: StageRun, meta: Any, offset: int, reason: str) -> None:
        """An item failed with its worker (killed, timed out): it runs again next time."""
        if isinstance(meta, Batch) and 0 <= offset < len(meta.keys):
            k = meta.keys[offset]
            if k.ident is not None:
                self.journal.put([self._row(st, bk, "", FAILED, safe_text(reason), 0.0)
                                  for st, bk in self._parts(r.stage, k)])

    def stage_ended(self, r: StageRun, state: str, runs: dict[str, StageRun]) -> None:
        """A stage ended: record it as a whole when it is judged so, and its signature."""
        if state not in ("done", "partial", "failed"):
            return  # cancelled or interrupted: the next run judges it afresh
        st, sig = r.stage, self.judge.sigs[r.stage.id]
        secs, n = self.spent.get(st.id, (0.0, 0))
        slot = self.judge.slot(st)
        per = secs / n if n else (slot.secs if slot else 0.0)  # seconds an item takes
        digest = ""
        if not self.judge.item_level(st):
            digest = self.judge.input_digest(st)
            whole = r.feed.whole if r.feed is not None else None
            if whole is None or whole.run:  # it ran (a skipped one keeps its record)
                self.journal.put([self._whole_row(r, runs, digest, secs)])
                self.journal.keep_whole(sig.sig, "@" + digest)
            per = secs if n else (slot.secs if slot else 0.0)  # a whole stage: its seconds
        if slot is None or not self.judge.only_failed:  # a partial run: keep the old one's
            self.journal.set_slot(self.judge.workflow_key, st.label,  # signature, to compare
                                  Slot(sig.sig, sig.settings, sig.code, digest, per))
            for b in self.judge.branches.get(st.id, ()):
                bs = self.judge.sigs[b.stage.id]
                if self.judge.slot(b.stage) is None or not self.judge.only_failed:
                    self.journal.set_slot(self.judge.workflow_key, b.stage.label,
                                          Slot(bs.sig, bs.settings, bs.code, "", per))

    def _whole_row(self, r: StageRun, runs: dict[str, StageRun], digest: str,
                   secs: float) -> tuple:
        st = r.stage
        status, value = OK, None
        if r.failed:
            status = FAILED
        elif lacking(st, runs, failures=True):
            status = INCOMPLETE
        elif st.kind == "reduce":
            if r.results:
                value = keep(r.results[0][1].value, self.transient)
            else:
                status = DROPPED
        outs = self.judge.snap.outs(self.judge.prep.chains[st.id].static_paths)
        return (self._sig(st), "@" + digest, None, None, "", outs, status, value, secs)

    def finish(self, complete: bool, runs: dict[str, StageRun]) -> None:
        """After the run: forget items whose source is gone, give space back."""
        if complete and not self.judge.only_failed:
            for r in runs.values():
                if r.state not in ("done", "failed"):
                    continue
                for st in [r.stage, *(b.stage for b in self.judge.branches.get(r.stage.id, ()))]:
                    seen = self.judge.seen.get(st.id)
                    if seen is None:
                        continue
                    sig = self._sig(st)
                    if self.journal.count(sig) > len(seen):
                        self.journal.forget(sig, [i for i in self.journal.idents(sig)
                                                  if hash(i) not in seen])
        self.journal.compact()
