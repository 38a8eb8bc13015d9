"""Many small items: a no-op re-run over 100,000 tiny files, its memory, the journal's size.

    python bench/bench_journal.py [--files 100000] [--reps 3]

Makes ``--files`` tiny PNGs (8x8, in 100 folders, once, in bench/corpus/tiny) and runs
``bench/workflows/tiny.yaml`` over them (one image step: each saved as a PNG). After
the full run, re-runs with nothing changed: their wall time and the parent process's
peak memory (VmHWM, polled) are the figures; targets 1.5 s and 100 MiB. Then the
journal is worked as users do (re-runs, a thousand files touched, a forced run, a run
killed half-way and finished) and its size on disk (the database and its WAL, polled
while each run goes) compared with its compacted size (``VACUUM INTO``): at most 2x.
Writes bench/results/journal.json.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench_memory import peak_rss
from common import (
    CORPUS,
    OUT,
    ROOT,
    USER_ENV,
    WORKFLOWS,
    flow_cmd,
    fmt_s,
    machine_line,
    markdown_table,
    median,
    publish,
    rel,
    settled,
)

WORKFLOW = WORKFLOWS / "tiny.yaml"
TIME_TARGET, MEMORY_TARGET_MIB, GROWTH_TARGET = 1.5, 100, 2.0
PNG_8X8 = bytes.fromhex(  # an 8x8 RGB PNG, as Pillow writes it
    "89504e470d0a1a0a0000000d49484452000000080000000808020000004b6d29dc0000001449444154"
    "789c63e4129163c00698b08a0e5a0900355c004c89293feb0000000049454e44ae426082")


def make_files(n: int) -> Path:
    """``n`` tiny PNGs in 100 folders under bench/corpus/tiny (kept between runs)."""
    root = CORPUS / f"tiny-{n}"
    per = max(1, -(-n // 100))
    made = 0
    for d in range(100):
        folder = root / f"d{d:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(min(per, n - made)):
            path = folder / f"p{i:05d}.png"
            if not path.exists():
                path.write_bytes(PNG_8X8)
            made += 1
    return root


def journal_bytes(workdir: Path) -> int:
    """The journal's size on disk: the database and its write-ahead log."""
    return sum((workdir / ".flow" / f"journal.db{s}").stat().st_size
               for s in ("", "-wal") if (workdir / ".flow" / f"journal.db{s}").exists())


def compacted_bytes(workdir: Path) -> int:
    """The size of the journal rewritten without free space (``VACUUM INTO``)."""
    target = OUT / "journal" / "compacted.db"
    target.unlink(missing_ok=True)
    with sqlite3.connect(workdir / ".flow" / "journal.db") as conn:
        conn.execute("VACUUM INTO ?", (str(target),))
    conn.close()
    size = target.stat().st_size
    target.unlink()
    return size


def flow_args(files: Path, *extra: str) -> list[str]:
    return flow_cmd("run", rel(WORKFLOW), "-p", f"files={rel(files)}", "-p",
                    f"out={rel(OUT / 'journal' / 'out')}", "--no-live", *extra)


def watched(cmd: list[str], kill_after: float | None = None) -> tuple[float, int, int]:
    """Run ``cmd`` (SIGKILL it after ``kill_after`` s); (seconds, exit code, the journal's
    largest size on disk while it ran)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=USER_ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    largest = 0
    while proc.poll() is None:
        try:
            largest = max(largest, journal_bytes(ROOT))
        except OSError:
            pass
        if kill_after is not None and time.perf_counter() - t0 > kill_after:
            proc.send_signal(signal.SIGKILL)
        time.sleep(0.02)
    return time.perf_counter() - t0, proc.returncode, max(largest, journal_bytes(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    print(machine_line())
    files = make_files(args.files)
    print(f"{args.files} tiny files in {rel(files)}; full run ...", flush=True)
    full_s, code, _ = watched(flow_args(files, "--force"))
    if code != 0:
        raise SystemExit(f"the full run failed (exit {code})")
    noop: list[dict[str, Any]] = []
    for _ in range(args.reps):
        settled()
        noop.append(peak_rss(flow_args(files)))
    secs = median([r["seconds"] for r in noop])
    peak = max(r["parent_kib"] for r in noop) / 1024
    compact = compacted_bytes(ROOT)
    # The journal worked as users do; its largest size on disk through all of it.
    sizes = {"after the full run": journal_bytes(ROOT)}
    for what, extra, kill in [("no-op re-run", (), None), ("1000 files touched", (), None),
                              ("forced run", ("--force",), None),
                              ("forced run killed half-way", ("--force",), full_s / 2),
                              ("the killed run finished", (), None)]:
        if what == "1000 files touched":
            for path in sorted(files.rglob("*.png"))[::max(1, args.files // 1000)]:
                st = path.stat()
                os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        _, _, largest = watched(flow_args(files, *extra), kill)
        sizes[what] = largest
    growth = max(sizes.values()) / compact
    rows = [[f"no-op re-run of {args.files:,} files (median of {args.reps})", fmt_s(secs),
             f"<= {TIME_TARGET} s", "yes" if secs <= TIME_TARGET else "NO"],
            ["parent peak memory of those runs", f"{peak:.1f} MiB",
             f"<= {MEMORY_TARGET_MIB} MiB", "yes" if peak <= MEMORY_TARGET_MIB else "NO"],
            ["journal's largest size / compacted size", f"{growth:.2f}x "
             f"({max(sizes.values()) / 2**20:.1f} / {compact / 2**20:.1f} MiB)",
             f"<= {GROWTH_TARGET}x", "yes" if growth <= GROWTH_TARGET else "NO"]]
    print(f"\nfull run {fmt_s(full_s)}\n")
    print(markdown_table(["figure", "flow", "target", "met?"], rows))
    print("\njournal size on disk (database + WAL, largest while each run went):")
    for what, size in sizes.items():
        print(f"  {what}: {size / 2**20:.1f} MiB")
    print(f"\nno-op re-run {fmt_s(secs)}, parent peak {peak:.1f} MiB")
    return publish("journal", {"files": args.files, "full_seconds": full_s,
                               "noop_runs": noop, "noop_median_seconds": secs,
                               "parent_peak_mib": peak, "compacted_bytes": compact,
                               "sizes": sizes, "growth": growth,
                               "targets": {"seconds": TIME_TARGET, "mib": MEMORY_TARGET_MIB,
                                           "growth": GROWTH_TARGET}})


if __name__ == "__main__":
    sys.exit(main())
