"""Is it up to date, and if not, why: the one rule a run, ``--dry-run`` and ``flow explain``
share.

An item of a stage is up to date when the journal holds its record under the
stage's signature (:func:`runner.run.chains.stage_signatures`: steps, arguments,
output templates, flow's version, the code of the steps' modules, and the same
of every stage before it), its source has the size and mtime_ns it had then, its
outputs are the files that item wrote (same path, size, mtime and inode), and it
did not fail. Its value then comes from the journal, or, when it was too large
to keep (an image between two stages), it is made again only if a later step
that is not up to date needs it.

Items from files are judged one by one. Numbers and values (a range, a values
list, a CSV column, and whatever stages make of them) are judged per stage, as a
whole: the input's values (a CSV's files and column) are the identity, and any
change reruns the stage; a stage that writes a file per item is judged item by
item even then. A reduce
(and any stage judged whole) is up to date when its record holds the digest of
every item that reaches it (each file's path, size and mtime, or the values), so
it reruns exactly when an item is added, removed or changed, or a step before it
changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from runner.files.identity import (
    Snapshot,
    Stat,
    blake2b,
    encode,
    missing_outputs,
)
from runner.files.inputs import Item
from runner.files.journal import DROPPED, FAILED, INCOMPLETE, Journal, Record, Slot
from runner.plan import Stage
from runner.run.branches import Branch
from runner.run.chains import (
    StageChain,
    StageSig,
    item_outs,
    out_key,
    out_keyer,
    planned_outs,
)
from runner.run.prepare import Prepared

NEW = "new"
SOURCE = "source changed"
SETTINGS = "settings changed"
CODE = "code changed"
OUTPUT_MISSING = "output missing"
OUTPUT_CHANGED = "output changed"
FAILED_LAST = "failed last time"
INPUTS = "inputs changed"
NEEDED = "needed by a later step"
FORCED = "--force"
LEFT_OUT = "not run (--only-failed)"
UP_TO_DATE = "up to date"

# What each reason means, for `flow explain`.
MEANING = {
    NEW: "never made before",
    SOURCE: "its source's size or mtime differs from when it was made",
    SETTINGS: "a step's settings changed (steps, arguments, params, output templates or "
              "flow's version)",
    CODE: "the code of a step's module changed",
    OUTPUT_MISSING: "an output it makes is missing",
    OUTPUT_CHANGED: "an output was changed, replaced or made by another item since",
    FAILED_LAST: "it failed last time (or an item it needs did)",
    INPUTS: "the items it takes changed (one added, removed or changed)",
    NEEDED: "a later step that runs needs its value, which is too large to keep",
    FORCED: "--force redoes everything",
    LEFT_OUT: "--only-failed runs only what failed last time",
    UP_TO_DATE: "made before from the same source, settings and code",
}


class _NotNeeded:
    """The value of a skipped item nobody downstream needs (it was not kept)."""

    def __repr__(self) -> str:
        return "<not kept>"


NOT_NEEDED = _NotNeeded()


class Verdict(NamedTuple):
    """What happens to an item (or a whole stage) and why. NamedTuples here and in
    :class:`Key`: immutable, and made fast enough for one per item of a no-op run."""

    run: bool
    reason: str
    value: Any = NOT_NEEDED  # what a skipped item passes on
    passed: bool = True  # False: a skipped item that goes no further (dropped, left out)
    secs: float | None = None  # what it took last time


class Key(NamedTuple):
    """What the journal needs of an item that runs: identity, source state, outputs."""

    ident: str | None
    stat: Stat
    okey: str = ""  # see runner.run.chains.out_key
    outs: tuple = ()  # ((chain_pos, arg, path), ...) as item_outs gives them
    parts: tuple = ()  # a tree: ((branch, its own Key), ...) of the branches that run


_NO_KEY = Key(None, None)  # what a skipped item's key is: nothing is recorded of it


@dataclass
class Judge:
    """Judges items and stages of one prepared run against the journal."""

    prep: Prepared
    journal: Journal
    sigs: dict[str, StageSig]
    workflow_key: str  # the workflow file: slots are per workflow and stage
    snap: Snapshot
    force: bool = False
    only_failed: bool = False
    seen: dict[str, set[int]] = field(default_factory=dict)  # stage -> hash of idents judged
    _stages: dict[str, Verdict] = field(default_factory=dict)
    _slots: dict[str, Slot | None] = field(default_factory=dict)
    _digests: dict[str, str] = field(default_factory=dict)
    _levels: dict[str, bool] = field(default_factory=dict)
    # Tree stage id -> its branches, each judged as a stage of its own (runner.run.branches);
    # their signatures are in ``sigs`` under the branches' stage ids.
    branches: dict[str, tuple[Branch, ...]] = field(default_factory=dict)
    _chains: dict[str, StageChain] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._chains = {**self.prep.chains,
                        **{b.stage.id: b.sc for arms in self.branches.values() for b in arms}}

    # -- shape ---------------------------------------------------------------------------------
    def consumers(self, st: Stage) -> list[Stage]:
        """The stages that take ``st``'s items."""
        return [c for c in self.prep.plan.stages if st.id in c.sources]

    def item_level(self, st: Stage) -> bool:
        """Judged item by item: a map stage over files, or one writing a file per item."""
        hit = self._levels.get(st.id)
        if hit is None:
            hit = self._levels[st.id] = st.kind == "map" and (
                bool(self._chains[st.id].outputs) or "glob" in self._roots(st))
        return hit

    def _roots(self, st: Stage) -> set[str]:
        kinds: set[str] = set()
        for src in st.sources:
            if src in self.prep.sources:
                kinds.add(self.prep.sources[src].kind)
            else:
                up = self.prep.plan.stage(src)
                kinds |= {"reduce"} if up.kind == "reduce" else self._roots(up)
        return kinds

    def slot(self, st: Stage) -> Slot | None:
        """The stage as this workflow's last run left it."""
        if st.id not in self._slots:
            self._slots[st.id] = self.journal.slot(self.workflow_key, st.label)
        return self._slots[st.id]

    # -- items -----------------------------------------------------------------------------------
    def items(self, st: Stage, items: Sequence[Item]) -> list[tuple[Verdict, Key]]:
        """The verdict on each item of an item-by-item stage, and its key."""
        if st.id in self.branches:
            return self._tree_items(st, items)
        sc, sig, snap = self._chains[st.id], self.sigs[st.id].sig, self.snap
        if all(it.source is not None for it in items):  # files: the common, fast case
            keys = snap.file_idents([it.source for it in items])  # type: ignore[misc]
        else:
            keys = [snap.ident(it.source, it.value) if it.value is not NOT_NEEDED
                    or it.source is not None else (None, None) for it in items]
        self.seen.setdefault(st.id, set()).update(hash(ident) for ident, _ in keys)
        if self.force:
            verdicts = [Verdict(True, FORCED)] * len(items)
        else:
            recs = self.journal.lookup(sig, [i for i, _ in keys if i is not None])
            missing = self._missing_reasons(st, [i for i, _ in keys
                                                 if i is not None and i not in recs])
            # Nobody takes this stage's values: an up-to-date item's value is not read.
            quiet = Verdict(False, UP_TO_DATE) if not self.consumers(st) else None
            okey = out_keyer(sc) if sc.outputs else None
            verdicts = []
            for it, (ident, stat) in zip(items, keys, strict=True):
                rec = recs.get(ident) if ident is not None else None
                why = NEW if rec is None else self._stale(rec, stat, st, it, okey)
                if why is None and quiet is not None and rec.status != DROPPED:
                    verdicts.append(quiet)
                    continue
                if rec is None and ident is not None:
                    why = missing.get(ident, NEW)
                verdicts.append(self._settle(st, why, rec, it))
        # Only what runs needs its outputs checked and resolved (prepare checked them all),
        # and a key at all.
        return [(v, (Key(ident, stat, out_key(sc, it), item_outs(sc, it, self.prep.resolver))
                     if sc.outputs else Key(ident, stat)) if v.run else _NO_KEY)
                for it, v, (ident, stat) in zip(items, verdicts, keys, strict=True)]

    def _tree_items(self, st: Stage, items: Sequence[Item]) -> list[tuple[Verdict, Key]]:
        """A tree's items: each branch judged alone; an item runs the branches that are
        not up to date (its verdict is the first of theirs), and is skipped when none is."""
        arms = self.branches[st.id]
        per = [self.items(b.stage, items) for b in arms]
        out = []
        for i in range(len(items)):
            runs = [(b, per[b.n][i]) for b in arms if per[b.n][i][0].run]
            if not runs:  # a branch left out (--only-failed) says so before an up-to-date one
                out.append(min((p[i] for p in per), key=lambda vk: vk[0].reason == UP_TO_DATE))
                continue
            first = runs[0][1][1]
            outs = tuple((b.tree_pos(pos), arg, path) for b, (_, k) in runs
                         for pos, arg, path in k.outs if pos >= b.trunk or b is runs[0][0])
            out.append((runs[0][1][0], first._replace(
                outs=outs, parts=tuple((b.n, k) for b, (_, k) in runs))))
        return out

    def _missing_reasons(self, st: Stage, idents: list[str]) -> dict[str, str]:
        """Why items without a record run: new, or made under other settings or code."""
        slot = self.slot(st)
        if not idents or slot is None or slot.sig == self.sigs[st.id].sig:
            return {}
        before = self.journal.lookup(slot.sig, idents)
        why = self._changed(st, slot)
        # One that failed under the old code or settings still failed last time (for
        # --only-failed: fixing the code is how a failure is most often mended).
        return {i: FAILED_LAST if rec.status in (FAILED, INCOMPLETE) else why
                for i, rec in before.items()}

    def _changed(self, st: Stage, slot: Slot) -> str:
        return CODE if slot.code != self.sigs[st.id].code else SETTINGS

    def _stale(self, rec: Record, stat: Stat, st: Stage, item: Item | None,
               okey: Callable[[Item], str] | None = None) -> str | None:
        """Why a record does not hold any more, or None when it does; ``item`` None: a
        stage judged as a whole (its outputs are its fixed paths). ``okey``: the stage's
        :func:`~runner.run.chains.out_keyer`, when it writes a file per item."""
        if rec.status in (FAILED, INCOMPLETE):
            return FAILED_LAST
        if (rec.size, rec.mtime) != (stat or (None, None)):
            return SOURCE
        sc = self._chains[st.id]
        if item is not None and okey is not None and rec.okey == okey(item):
            # The same paths as then (no template filled): are they the files it wrote?
            gone = self.snap.unchanged(rec.outs)
            return None if gone is None else OUTPUT_MISSING if gone == "missing" \
                else OUTPUT_CHANGED
        if item is None:
            outs = sc.static_paths
        elif not sc.outputs:
            outs = ()
        else:
            outs = planned_outs(sc, item, self.prep.resolver)
        if outs or rec.outs:
            now = self.snap.outs(outs)
            if now != rec.outs:
                return OUTPUT_MISSING if missing_outputs(now) else OUTPUT_CHANGED
        return None

    def _settle(self, st: Stage, why: str | None, rec: Record | None,
                item: Item | None = None) -> Verdict:
        """The verdict from why the record does not hold (None: it does); ``item``: the
        item judged (None: the stage as a whole)."""
        secs = rec.secs if rec is not None else None
        if why is None and rec is not None:
            if rec.status == DROPPED:
                return Verdict(False, UP_TO_DATE, passed=False, secs=secs)
            if rec.value is not None:
                return Verdict(False, UP_TO_DATE, json.loads(rec.value), secs=secs)
            if not (self._stage_needed(st) if item is None else self._item_needed(st, item)):
                return Verdict(False, UP_TO_DATE, secs=secs)
            why = NEEDED
        if self.only_failed and why != FAILED_LAST:
            return Verdict(False, LEFT_OUT, passed=False, secs=secs)
        return Verdict(True, why or NEW, secs=secs)

    def _item_needed(self, st: Stage, it: Item) -> bool:
        """Does a later stage that runs need this item's value (which was not kept)?"""
        for c in self.consumers(st):
            if self.item_level(c):
                if it.source is None or self.items(c, [it])[0][0].run:
                    return True
            elif self.stage(c).run:
                return True
        return False

    # -- whole stages ------------------------------------------------------------------------------
    def stage(self, st: Stage) -> Verdict:
        """The verdict on a stage judged as a whole (a reduce, a range), once per run."""
        hit = self._stages.get(st.id)
        if hit is None:
            hit = self._stages[st.id] = self._judge_stage(st)
        return hit

    def _judge_stage(self, st: Stage) -> Verdict:
        if self.force:
            return Verdict(True, FORCED)
        sig, d = self.sigs[st.id].sig, self.input_digest(st)
        rec = self.journal.get(sig, "@" + d)
        slot = self.slot(st)
        last = self.journal.get(slot.sig, "@" + slot.digest) if slot is not None else None
        if last is not None and last.status in (FAILED, INCOMPLETE):
            missing = FAILED_LAST  # its last run failed, or some of its items did
        elif slot is None:
            missing = NEW
        elif slot.sig == sig:
            missing = INPUTS if slot.digest != d else NEW
        else:
            missing = self._changed(st, slot)
        why = missing if rec is None else self._stale(rec, None, st, None)
        return self._settle(st, why, rec)

    def _stage_needed(self, st: Stage) -> bool:
        return any(self.item_level(c) or self.stage(c).run for c in self.consumers(st))

    def input_digest(self, st: Stage) -> str:
        """A digest of every item that can reach ``st``: files by path, size and mtime,
        values by value, ranges by their bounds."""
        hit = self._digests.get(st.id)
        if hit is None:
            h = blake2b(digest_size=8)
            for src in st.sources:
                if src in self.prep.sources:
                    h.update(self._source_digest(src).encode())
                else:
                    h.update(self.input_digest(self.prep.plan.stage(src)).encode())
            hit = self._digests[st.id] = h.hexdigest()
        return hit

    def _source_digest(self, name: str) -> str:
        key = "\0" + name
        hit = self._digests.get(key)
        if hit is None:
            src = self.prep.sources[name]
            h = blake2b(digest_size=8)
            h.update(src.kind.encode())
            if src.span is not None:
                s = src.span
                h.update(repr((s.start, s.step, s.first, s.last)).encode())
            elif src.kind in ("glob", "csv"):  # files: by path, size and mtime
                h.update(src.key.encode())
                for path, _ in src.entries:
                    ident, stat = self.snap.ident(path, None)
                    h.update(f"{ident}\0{stat}\n".encode("utf-8", "surrogateescape"))
            else:
                text = encode(list(src.entries))
                h.update((text if text is not None else repr(src.entries)).encode(
                    "utf-8", "surrogateescape"))
            hit = self._digests[key] = h.hexdigest()
        return hit
