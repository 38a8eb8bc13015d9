"""Tree benchmark: three web sizes of every photo, decoded once, against the other ways.

    python bench/bench_tree.py [--photos 48] [--pngs 16] [--reps 1]

Every photo (3000x2000 to 6000x4000) is made to fit 1600, 800 and 256 px on its
long side and saved as a JPEG at quality 85, on two corpora: JPEGs, and PNGs of
some of them (no shrink-on-load: every extra decode is paid in full). In one run:

- flow: ``bench/workflows/tree.yaml``, three branches from one input (one decode);
- the hand-tuned script: Pool(2), each photo decoded once (drafted to >= 1600 where
  JPEG), then resized from the largest down (1600 -> 800 -> 256);
- three passes: ``bench/workflows/tree_pass.yaml`` run once per size, as flow did
  before trees (and as a Makefile of one ``mogrify`` per size does);
- pyvips, where installed: Pool(2), ``thumbnail`` to 1600 (shrink-on-load where JPEG),
  then each smaller size from the one before (``thumbnail_image``).

Each run writes into a freshly emptied folder. Prints a Markdown table and writes
bench/results/tree.json.
"""

from __future__ import annotations

import argparse
import os
import sys
from multiprocessing import Pool
from pathlib import Path
from typing import Any

from baselines import pyvips_missing
from common import (
    CORPUS,
    OUT,
    WORKFLOWS,
    Timed,
    flow_run,
    fmt_s,
    fresh_dir,
    machine_line,
    markdown_table,
    median,
    publish,
    rel,
    run_timed,
)
from make_corpus import photo_dir

SIZES = (1600, 800, 256)
QUALITY = 85
WORKERS = 2
TARGET_SCRIPT = 0.95  # flow's throughput / the single-decode script's, both corpora
TARGET_PASSES = 1.8  # flow's throughput / the three passes', on the PNGs


def fit(w: int, h: int, box: int) -> tuple[int, int]:
    """The size of a w x h image made to fit a box x box square (never enlarged)."""
    scale = min(1.0, box / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def _one_decode(job: tuple[str, str]) -> None:
    """The hand-tuned way for one photo: one (drafted) decode, resized from the largest down."""
    from PIL import Image

    path, out = job
    stem = Path(path).stem
    with Image.open(path) as im:
        w, h = im.size  # before the draft shrinks it
        first = fit(w, h, SIZES[0])
        if im.format == "JPEG":
            im.draft("RGB", first)  # DCT-scaled decode, still >= the largest output
        img = im.convert("RGB")
    for size in SIZES:
        img = img.resize(fit(w, h, size), Image.Resampling.BICUBIC)
        img.save(f"{out}/{size}/{stem}.jpg", quality=QUALITY)


def script_main(src: str, out: str, ext: str) -> int:
    """``--script``: the single-decode script over every ``*.ext`` photo in ``src``."""
    for size in SIZES:
        os.makedirs(f"{out}/{size}", exist_ok=True)
    jobs = [(str(p), out) for p in sorted(Path(src).glob(f"*.{ext}"))]
    with Pool(WORKERS) as pool:
        for _ in pool.imap_unordered(_one_decode, jobs, chunksize=1):
            pass
    return 0


def _vips_one(job: tuple[str, str]) -> None:
    """The pyvips way for one photo: one thumbnail load, each smaller size from the last."""
    import pyvips

    path, out = job
    stem = Path(path).stem
    # In memory once: the smaller sizes read it again, and a JPEG loads sequentially.
    img = pyvips.Image.thumbnail(path, SIZES[0], height=SIZES[0], size="down").copy_memory()
    for size in SIZES:
        if size != SIZES[0]:
            img = img.thumbnail_image(size, height=size, size="down")
        img.write_to_file(f"{out}/{size}/{stem}.jpg", Q=QUALITY)


def _vips_init() -> None:
    import pyvips

    pyvips.cache_set_max(0)  # distinct files: a cache only holds memory


def vips_main(src: str, out: str, ext: str) -> int:
    """``--pyvips``: the pyvips way over every ``*.ext`` photo in ``src``."""
    os.environ.setdefault("VIPS_CONCURRENCY", "1")  # the pool gives the parallelism
    for size in SIZES:
        os.makedirs(f"{out}/{size}", exist_ok=True)
    jobs = [(str(p), out) for p in sorted(Path(src).glob(f"*.{ext}"))]
    with Pool(WORKERS, initializer=_vips_init) as pool:
        for _ in pool.imap_unordered(_vips_one, jobs, chunksize=1):
            pass
    return 0


def _to_png(job: tuple[str, str]) -> None:
    from PIL import Image

    src, dst = job
    if not os.path.exists(dst):
        with Image.open(src) as im:
            im.save(f"{dst}.tmp.png", compress_level=1)
        os.replace(f"{dst}.tmp.png", dst)


def png_dir(jpegs: Path, n: int) -> Path:
    """The first ``n`` photos as PNGs, in ``bench/corpus/png-<n>``."""
    folder = CORPUS / f"png-{n}"
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(str(p), str(folder / f"{p.stem}.png")) for p in sorted(jpegs.glob("*.jpg"))[:n]]
    with Pool(WORKERS) as pool:
        pool.map(_to_png, jobs)
    return folder


def contenders(src: Path, ext: str) -> dict[str, Any]:
    """Each way once, into emptied folders: name -> Timed."""
    out = OUT / "tree"
    got: dict[str, Timed] = {}
    got["flow (one workflow, three branches)"] = flow_run(
        WORKFLOWS / "tree.yaml", {"photos": rel(src), "ext": ext,
                                  "out": rel(fresh_dir(out / "flow"))}, jobs=WORKERS)
    got["script: one decode, Pool(2)"] = run_timed(
        [sys.executable, __file__, "--script", str(src), str(fresh_dir(out / "script")), ext],
        quiet=True)
    passes = fresh_dir(out / "passes")
    total, last = 0.0, None
    for size in SIZES:
        last = flow_run(WORKFLOWS / "tree_pass.yaml",
                        {"photos": rel(src), "ext": ext, "size": size, "out": rel(passes)},
                        jobs=WORKERS)
        total += last.seconds
        if not last.ok:
            break
    assert last is not None
    got["three passes (three flow runs)"] = Timed(total, last.returncode, last.stdout,
                                                  last.stderr)
    if pyvips_missing() is None:
        got["pyvips: one thumbnail load, Pool(2)"] = run_timed(
            [sys.executable, __file__, "--pyvips", str(src), str(fresh_dir(out / "vips")),
             ext], quiet=True)
    return got


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=48, help="JPEGs in the first corpus")
    ap.add_argument("--pngs", type=int, default=16, help="of them saved as PNG, second corpus")
    ap.add_argument("--reps", type=int, default=1, help="runs of each way (median kept)")
    args = ap.parse_args(argv)
    jpegs = photo_dir(args.photos)
    corpora = [("JPEG", jpegs, "jpg", args.photos), ("PNG", png_dir(jpegs, args.pngs), "png",
                                                     args.pngs)]
    rows, payload = [], {"corpora": {}}
    for label, src, ext, n in corpora:
        runs: dict[str, list[float]] = {}
        for _ in range(args.reps):
            for name, t in contenders(src, ext).items():
                if not t.ok:
                    print(f"{name} on {label}: failed ({t.reason()})")
                    return 1
                runs.setdefault(name, []).append(t.seconds)
        secs = {name: median(v) for name, v in runs.items()}
        script = secs["script: one decode, Pool(2)"]
        flow = secs["flow (one workflow, three branches)"]
        passes = secs["three passes (three flow runs)"]
        for name, s in secs.items():
            rows.append([f"{label} ({n})", name, fmt_s(s), f"{n / s:.2f}",
                         f"{script / s:.2f}x"])
        payload["corpora"][label] = {"photos": n, "seconds": secs,
                                     "flow_vs_script": script / flow,
                                     "flow_vs_passes": passes / flow}
    print(machine_line())
    print(markdown_table(["corpus (photos)", "way", "wall time", "photos/s",
                          "vs one-decode script"], rows))
    c = payload["corpora"]
    for label in ("JPEG", "PNG"):
        print(f"{label}: flow {c[label]['flow_vs_script']:.2f}x the one-decode script "
              f"(target >= {TARGET_SCRIPT}), {c[label]['flow_vs_passes']:.2f}x the three passes")
    print(f"PNG target: flow >= {TARGET_PASSES}x the three passes")
    if (why := pyvips_missing()) is not None:
        print(f"pyvips: {why}")
    return publish("tree", payload)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--script":
        sys.exit(script_main(*sys.argv[2:5]))
    if len(sys.argv) > 1 and sys.argv[1] == "--pyvips":
        sys.exit(vips_main(*sys.argv[2:5]))
    sys.exit(main())
