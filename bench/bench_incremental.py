"""Re-runs: thumbnails + brightness on real-size photos, full run vs. no-op vs. one touched.

    python bench/bench_incremental.py [--photos 600] [--reps 3]

Runs ``workflows/thumbnails.yaml`` (thumbnails saved, each photo's brightness, their
statistics written) over the corpus of ``make_corpus.py``: once in full (``--force``,
into an emptied folder), then again with nothing changed, then after touching one
photo (its mtime moved on), ``--reps`` times each. Targets: a no-op re-run within 3% of
the full run, one touched photo within 5%. The counts of every run are checked (a
no-op did nothing, a touch redid one thumbnail, one brightness and the statistics).
Writes bench/results/incremental.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from common import (
    OUT,
    ROOT,
    Timed,
    flow_run,
    fmt_s,
    fresh_dir,
    machine_line,
    markdown_table,
    median,
    publish,
    rel,
)
from make_corpus import photo_dir

WORKFLOW = ROOT / "workflows" / "thumbnails.yaml"
TARGETS = {"no-op": 0.03, "one touched": 0.05}


def run(photos: Path, out: Path, *extra: str) -> tuple[Timed, dict[str, tuple[int, int]]]:
    """One timed ``flow run``; (done, skipped) per stage from its report."""
    report = out.parent / "incremental-report.json"
    t = flow_run(WORKFLOW, {"photos": rel(photos), "out": rel(out)},
                 extra=("--report", str(report), *extra))
    if not t.ok:
        raise SystemExit(f"flow failed: {t.reason()}")
    doc = json.loads(report.read_text())
    return t, {s["label"]: (s["done"], s["skipped"]) for s in doc["stages"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=600)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    print(machine_line())
    photos = photo_dir(args.photos)
    out = fresh_dir(OUT / "incremental") / "thumbs"
    n = args.photos
    full, counts = run(photos, out, "--force")
    assert counts["summary→write"] == (1, 0), counts
    rows: dict[str, list[float]] = {"no-op": [], "one touched": []}
    for i in range(args.reps):
        t, counts = run(photos, out)
        assert all(done == 0 for done, _ in counts.values()), counts  # nothing ran
        rows["no-op"].append(t.seconds)
        photo = sorted(photos.glob("*.jpg"))[(i * 37) % n]
        st = photo.stat()
        os.utime(photo, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        t, counts = run(photos, out)
        assert counts == {"orient→shrink→save": (1, n - 1), "brightness": (1, n - 1),
                          "summary→write": (1, 0)}, counts
        rows["one touched"].append(t.seconds)
    table = [["full run (--force)", fmt_s(full.seconds), "100%", "", ""]]
    results: dict[str, Any] = {"photos": n, "full_seconds": full.seconds, "runs": rows}
    for what, secs in rows.items():
        share = median(secs) / full.seconds
        results[what] = {"median_seconds": median(secs), "share_of_full": share,
                         "target": TARGETS[what], "met": share <= TARGETS[what]}
        table.append([f"re-run, {what}", fmt_s(median(secs)), f"{share:.1%}",
                      f"<= {TARGETS[what]:.0%}", "yes" if share <= TARGETS[what] else "NO"])
    print(f"\nthumbnails + brightness on {n} photos ({rel(photos)}), median of {args.reps}\n")
    print(markdown_table(["run", "wall", "of the full run", "target", "met?"], table))
    print(f"\nfull run {fmt_s(full.seconds)}; no-op re-run {fmt_s(median(rows['no-op']))} "
          f"({results['no-op']['share_of_full']:.1%}); one photo touched "
          f"{fmt_s(median(rows['one touched']))} "
          f"({results['one touched']['share_of_full']:.1%})")
    return publish("incremental", results)


if __name__ == "__main__":
    sys.exit(main())
