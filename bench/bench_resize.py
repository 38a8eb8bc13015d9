"""Resize benchmark: ``flow run`` against the hand-tuned script, side by side, same run.

    python bench/bench_resize.py [--photos 450] [--reps 5] [--workers N] [--all]

Every photo is made to fit 256x256 and saved as a JPEG at quality 85. flow and
the hand-tuned script (Pool(cores) + Image.draft + resize) run alternately,
``--reps`` times each, each time into a freshly emptied folder (so flow's
up-to-date skipping cannot help it). ``--all`` adds the other tools users pick
(tutorial script, pyvips, vipsthumbnail, mogrify, GNU parallel + convert), run
``--other-reps`` times. Prints a Markdown table and writes bench/results/resize.json.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from baselines import TOOLS
from common import (
    CORES_NOTE,
    OUT,
    WORKFLOWS,
    Timed,
    flow_run,
    fmt_rate,
    fmt_s,
    fresh_dir,
    machine_line,
    markdown_table,
    median,
    publish,
    read_results,
    rel,
    run_timed,
    spread,
    unavailable,
)
from make_corpus import bytes_per_pixel, photo_dir

TARGET = 0.95  # flow's throughput / the hand-tuned script's
FLOW = "flow"
FLOW_LABEL = "flow run bench/workflows/resize.yaml"


def out_dir(key: str) -> Path:
    return OUT / "resize" / key


def run_tool(key: str, src: Path, workers: int) -> Timed | str:
    """One timed run of a tool into its emptied output folder; a str when it cannot run."""
    out = fresh_dir(out_dir(key))
    if key == FLOW:
        return flow_run(WORKFLOWS / "resize.yaml", {"photos": rel(src), "out": rel(out)},
                        jobs=workers)
    cmd = TOOLS[key].command(src, out, workers)
    return cmd if isinstance(cmd, str) else run_timed(cmd, quiet=True)


def outputs(key: str) -> dict[str, tuple[int, int]]:
    """The output folder's JPEGs: name -> (width, height), read from the headers."""
    from PIL import Image

    sizes = {}
    for p in sorted(out_dir(key).glob("*.jpg")):
        with Image.open(p) as im:
            sizes[p.name] = im.size
    return sizes


def measure(keys: list[str], reps: int, src: Path, n: int, workers: int,
            alternate: bool) -> dict[str, dict[str, Any]]:
    """Run each tool ``reps`` times (alternating order per rep when ``alternate``)."""
    res: dict[str, dict[str, Any]] = {k: {"runs": [], "error": None} for k in keys}
    for rep in range(reps):
        order = keys if not alternate or rep % 2 == 0 else keys[::-1]
        for key in order:
            r = res[key]
            if r["error"]:
                continue  # it failed once: do not spend the whole benchmark on it
            timed = run_tool(key, src, workers)
            if isinstance(timed, str):
                r["error"] = timed
            elif not timed.ok:
                r["error"] = unavailable(FLOW, timed) if key == FLOW else timed.reason()
            elif (made := len(list(out_dir(key).glob("*.jpg")))) != n:
                r["error"] = f"wrote {made} of {n} images"
            else:
                r["runs"].append(timed.seconds)
                print(f"  {key:<22} rep {rep + 1}: {fmt_s(timed.seconds):>8}  "
                      f"{n / timed.seconds:6.1f} images/s", flush=True)
            if r["error"]:
                print(f"  {key:<22} {r['error']}", flush=True)
    return res


def pixel_difference(names: list[str]) -> tuple[float, float]:
    """Mean and worst per-image mean absolute difference (0-255) between flow's and the
    hand-tuned script's thumbnails of the same size: "looks the same" as a number."""
    from PIL import Image, ImageChops, ImageStat

    diffs = []
    for name in names:
        with Image.open(out_dir(FLOW) / name) as a, Image.open(out_dir("hand-tuned") / name) as b:
            diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
            diffs.append(sum(ImageStat.Stat(diff).mean) / 3)
    return (sum(diffs) / len(diffs), max(diffs)) if diffs else (float("nan"), float("nan"))


def verify(n: int) -> dict[str, Any]:
    """flow's outputs against the hand-tuned script's: same files, same pixel sizes,
    and how far apart their pixels are."""
    ref, got = outputs("hand-tuned"), outputs(FLOW)
    differ = {name: (ref[name], got.get(name)) for name in ref if got.get(name) != ref[name]}
    worst = max((abs(a[0] - b[0]) + abs(a[1] - b[1]) for a, b in differ.values() if b),
                default=0)
    mean_diff, worst_diff = pixel_difference([k for k in ref if got.get(k) == ref[k]])
    return {"expected": n, "hand_tuned": len(ref), "flow": len(got),
            "pixel_diff_mean": round(mean_diff, 2), "pixel_diff_worst": round(worst_diff, 2),
            "extra_in_flow": sorted(set(got) - set(ref))[:5], "size_differs": len(differ),
            "max_px_off": worst,
            "examples": {k: {"hand_tuned": a, "flow": b} for k, (a, b) in list(differ.items())[:3]},
            "ok": len(got) == len(ref) == n and not differ}


def earlier_rows(n: int, workers: int) -> list[dict[str, Any]]:
    """The other tools' rows from the last ``--all`` run on the same photos and workers,
    so that a run of flow against the hand-tuned script alone still publishes one table."""
    prev = read_results("resize")
    if not prev or prev.get("photos") != n or prev.get("workers") != workers:
        return []
    return [dict(r, earlier=r.get("earlier") or prev.get("when"))
            for r in prev.get("tools", []) if r["key"] not in ("hand-tuned", FLOW)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=450)
    ap.add_argument("--reps", type=int, default=5, help="runs each of flow and hand-tuned")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="worker processes for flow (-j) and the Pool scripts")
    ap.add_argument("--all", action="store_true", help="add every other installed tool")
    ap.add_argument("--other-reps", type=int, default=1, help="runs of each other tool")
    args = ap.parse_args(argv)

    src = photo_dir(args.photos)
    n = args.photos
    for p in src.glob("*.jpg"):  # warm the page cache: measure decoding, not the disk
        p.read_bytes()
    bpp = bytes_per_pixel(sorted(src.glob("*.jpg")))
    cores = os.cpu_count()
    print(f"{n} photos in {rel(src)}, {bpp:.3f} bytes/pixel; {args.workers} workers")
    print(machine_line())
    print(CORES_NOTE.format(cores=cores))

    res = measure(["hand-tuned", FLOW], args.reps, src, n, args.workers, alternate=True)
    check = verify(n) if not (res[FLOW]["error"] or res["hand-tuned"]["error"]) else None
    if args.all:
        others = [k for k in TOOLS if k != "hand-tuned"]
        res.update(measure(others, args.other_reps, src, n, args.workers, alternate=False))

    def rate(key: str) -> float | None:
        runs = res[key]["runs"]
        return n / median(runs) if runs and not res[key]["error"] else None

    hand = rate("hand-tuned")
    rows, table = [], []
    for key, r in res.items():
        label = FLOW_LABEL if key == FLOW else TOOLS[key].label
        ips = rate(key)
        ratio = ips / hand if ips and hand else None
        rows.append({"key": key, "label": label, "runs_s": [round(s, 4) for s in r["runs"]],
                     "median_s": median(r["runs"]) if ips else None, "images_per_s": ips,
                     "vs_hand_tuned": ratio, "error": r["error"]})
        table.append([label, len(r["runs"]), spread(r["runs"]),
                      fmt_s(median(r["runs"])) if ips else "-",
                      fmt_rate(ips, "") if ips else r["error"] or "-",
                      f"{ratio:.2f}x" if ratio else "-"])
    carried = [] if args.all else earlier_rows(n, args.workers)
    for r in carried:
        ips = r["images_per_s"]
        table.append([f"{r['label']} *", len(r["runs_s"]), spread(r["runs_s"]),
                      fmt_s(r["median_s"]) if ips else "-",
                      fmt_rate(ips, "") if ips else r["error"] or "-",
                      f"{r['vs_hand_tuned']:.2f}x" if r["vs_hand_tuned"] else "-"])
    rows += carried
    print()
    headers = ["tool", "runs", "spread", "median wall", "images/s", "vs hand-tuned"]
    print(markdown_table(headers, table))
    if carried:
        print(f"* measured in an earlier run ({carried[0]['earlier']}), kept from "
              "bench/results/resize.json; --all measures them again")
    print()
    flow_ips = rate(FLOW)
    ratio = flow_ips / hand if flow_ips and hand else None
    if ratio is not None:
        verdict = "meets" if ratio >= TARGET else "misses"
        print(f"flow / hand-tuned throughput: {ratio:.3f} ({verdict} the target >= {TARGET})")
    else:
        why = res[FLOW]["error"] or res["hand-tuned"]["error"]
        print(f"flow / hand-tuned throughput: - ({why})")
    if check is not None:
        print(f"outputs: hand-tuned {check['hand_tuned']}, flow {check['flow']} of {n}; "
              f"sizes differ in {check['size_differs']} (max {check['max_px_off']} px)"
              f" -> {'OK' if check['ok'] else 'MISMATCH'}")
        print(f"pixels, flow vs hand-tuned: mean abs difference {check['pixel_diff_mean']:.2f} "
              f"of 255 (worst image {check['pixel_diff_worst']:.2f}); resampling filters differ")
    print(CORES_NOTE.format(cores=cores))
    return publish("resize", {
        "photos": n, "bytes_per_pixel": round(bpp, 4), "workers": args.workers,
        "reps": args.reps, "target": TARGET, "flow_vs_hand_tuned": ratio,
        "verify": check, "tools": rows})


if __name__ == "__main__":
    sys.exit(main())
