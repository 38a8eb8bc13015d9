"""What has been made: skip up-to-date items, finish interrupted runs.

An item is up to date when every output it would write exists, is newer than
its source file, and was made by the same chain of steps with the same
arguments (a signature recorded per output path in ``.flow/state.json``).
Outputs are recorded only after their task came back whole, and the file is
saved even when the run is interrupted, so a second run finishes the rest.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterable

from runner.execute.base import Chain

STATE_FILE = os.path.join(".flow", "state.json")
VERSION = 1


def signature(chain: Chain, templates: Iterable[str]) -> str:
    """A digest of the steps and arguments that make a stage's outputs.

    Two 32-bit checksums, not a cryptographic hash: it only tells changed settings
    apart, and importing hashlib (OpenSSL) would cost every run ~8 ms of start-up.
    """
    parts = [(s.ref, s.args) for s in chain.steps]
    data = repr((parts, sorted(templates))).encode()
    return f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"


class State:
    """The record of outputs made by earlier runs in one working directory."""

    def __init__(self, workdir: str, force: bool = False) -> None:
        self.path = os.path.join(workdir, STATE_FILE)
        self.force = force
        self.outputs: dict[str, str] = {}
        self.changed = False
        try:
            with open(self.path, encoding="utf-8") as fh:
                doc = json.load(fh)
            if doc.get("version") == VERSION:
                self.outputs = dict(doc.get("outputs", {}))
        except (OSError, ValueError, AttributeError):
            pass  # no record, or an unreadable one: everything is redone

    def fresh(self, source: str | None, outputs: Iterable[str], sig: str) -> bool:
        """True when every output exists, was made with ``sig`` and is newer than ``source``."""
        if self.force:
            return False
        try:
            src_time = os.stat(source).st_mtime_ns if source else None
        except OSError:
            return False
        any_output = False
        for out in outputs:
            any_output = True
            if self.outputs.get(out) != sig:
                return False
            try:
                out_time = os.stat(out).st_mtime_ns
            except OSError:
                return False
            if src_time is not None and out_time < src_time:
                return False
        return any_output

    def record(self, outputs: Iterable[str], sig: str) -> None:
        """Remember that ``outputs`` were just made with ``sig``."""
        for out in outputs:
            self.outputs[out] = sig
            self.changed = True

    def save(self) -> None:
        """Write the record atomically (whole or not at all)."""
        if not self.changed:
            return
        from steps.atomic import atomic_file

        with atomic_file(self.path, "w", encoding="utf-8") as fh:
            json.dump({"version": VERSION, "outputs": self.outputs}, fh)
        self.changed = False
