"""Make a corpus of photo-like JPEGs for the resize benchmark (no download).

    python bench/make_corpus.py [--photos 450] [--seed 2024] [--quality 90]

Why "photo-like": a JPEG's decode time depends on its entropy-coded bytes, and
real camera photos at quality 90 are about 0.11 bytes per pixel. Pure noise is
several times bigger and a smooth gradient far smaller, so either would make
every tool look slower or faster than on real photos. Each picture here is
smooth colour fields (a tiny random image upscaled), a mid-scale random layer,
grain-like texture in some regions only (sky beside foliage), flat polygons
(hard edges) and a least-significant-bit of sensor noise: about 0.11 B/px.

Photo ``i`` depends only on (seed, i), so the corpus grows without remaking
what exists, and a run with the same parameters does nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from multiprocessing import Pool
from pathlib import Path

from common import CORPUS

PHOTOS = CORPUS / "photos"
MANIFEST = CORPUS / "manifest.json"
GENERATOR = 3  # bump when the picture recipe changes: the corpus is then remade
MIN_SIZE, MAX_SIZE = (3000, 2000), (6000, 4000)


def photo_size(rng: random.Random) -> tuple[int, int]:
    """A camera-like size between 3000x2000 and 6000x4000: 3:2 mostly, some 4:3, some portrait."""
    long_side = rng.randrange(MIN_SIZE[0], MAX_SIZE[0] + 1, 8)
    aspect = 1.5 if rng.random() < 0.75 else 4 / 3
    short = min(MAX_SIZE[1], max(MIN_SIZE[1], round(long_side / aspect)))
    return (short, long_side) if rng.random() < 0.2 else (long_side, short)


def make_photo(seed: int, index: int, quality: int, path: str) -> tuple[int, int]:
    """Draw photo ``index`` and save it as a JPEG at ``path``. Returns (bytes, pixels)."""
    from PIL import Image, ImageChops, ImageDraw

    bicubic, bilinear = Image.Resampling.BICUBIC, Image.Resampling.BILINEAR
    rng = random.Random(seed * 1_000_003 + index)
    size = photo_size(rng)
    w, h = size

    def layer(mode: str, small: tuple[int, int], resample: Image.Resampling = bicubic):
        data = rng.randbytes(small[0] * small[1] * len(mode))
        return Image.frombytes(mode, small, data).resize(size, resample)

    def centred(img: Image.Image, amp: int) -> Image.Image:
        # Map 0..255 to 128 +- amp, to be added with offset -128.
        return img.point(lambda v: 128 + (v - 128) * amp // 128)

    img = Image.blend(layer("RGB", (rng.randint(4, 9), rng.randint(3, 7))),
                      layer("RGB", (rng.randint(30, 60), rng.randint(20, 40))), 0.3)
    # Random RGB is far more saturated than nature: pull it halfway to grey.
    img = Image.blend(img, img.convert("L").convert("RGB"), 0.55)
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(6, 18)):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        points = [(x0 + rng.randint(-w // 6, w // 6), y0 + rng.randint(-h // 6, h // 6))
                  for _ in range(rng.randint(3, 6))]
        draw.polygon(points, fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    texture = centred(layer("L", (w // 4, h // 4), bilinear), 22)
    mask = layer("L", (rng.randint(3, 8), rng.randint(3, 6))).point(
        lambda v: max(0, min(255, (v - 110) * 4)))
    texture = Image.composite(texture, Image.new("L", size, 128), mask)
    img = ImageChops.add(img, Image.merge("RGB", (texture,) * 3), 1.0, -128)
    noise = centred(Image.frombytes("L", size, rng.randbytes(w * h)), 1)
    img = ImageChops.add(img, Image.merge("RGB", (noise,) * 3), 1.0, -128)
    tmp = f"{path}.tmp"
    img.save(tmp, "JPEG", quality=quality)
    os.replace(tmp, path)  # whole or absent, so an interrupted run is redone cleanly
    return os.path.getsize(path), w * h


def _make(job: tuple[int, int, int, str]) -> tuple[int, int]:
    return make_photo(*job)


def photo_path(index: int) -> Path:
    return PHOTOS / f"photo_{index:04d}.jpg"


def ensure_corpus(n: int, seed: int = 2024, quality: int = 90, workers: int | None = None,
                  quiet: bool = False) -> list[Path]:
    """Make sure photos 0..n-1 exist with these parameters; make only the missing ones.

    A corpus made with another seed, quality or recipe is removed first. Photos past
    ``n`` are kept (a later, bigger run reuses them). Returns the n paths.
    """
    params = {"seed": seed, "quality": quality, "generator": GENERATOR,
              "min_size": list(MIN_SIZE), "max_size": list(MAX_SIZE)}
    old = None
    if MANIFEST.exists():
        try:
            old = json.loads(MANIFEST.read_text())
        except ValueError:
            old = None
    if (old or {}).get("params") != params and PHOTOS.exists():
        # Made with another recipe (or unknown): remake rather than mix two corpora.
        for stale in PHOTOS.glob("*.jpg"):
            stale.unlink()
    PHOTOS.mkdir(parents=True, exist_ok=True)
    paths = [photo_path(i) for i in range(n)]
    missing = [(seed, i, quality, str(p)) for i, p in enumerate(paths) if not p.exists()]
    if missing:
        t0 = time.perf_counter()
        if not quiet:
            print(f"making {len(missing)} photos in {PHOTOS} ...", flush=True)
        with Pool(workers or os.cpu_count() or 1) as pool:
            for done, _ in enumerate(pool.imap_unordered(_make, missing, chunksize=1), 1):
                if not quiet and (done % 25 == 0 or done == len(missing)):
                    print(f"  {done}/{len(missing)}  {time.perf_counter() - t0:.0f} s", flush=True)
    MANIFEST.write_text(json.dumps({"params": params}, indent=2) + "\n")
    return paths


def bytes_per_pixel(paths: list[Path]) -> float:
    """The corpus's average JPEG bytes per pixel (pixels read from the headers only)."""
    from PIL import Image

    total_bytes = total_pixels = 0
    for p in paths:
        with Image.open(p) as im:
            total_pixels += im.width * im.height
        total_bytes += p.stat().st_size
    return total_bytes / total_pixels if total_pixels else float("nan")


def photo_dir(n: int, **kwargs: int) -> Path:
    """A folder holding exactly the first ``n`` corpus photos, for a workflow's glob.

    The corpus folder itself when it holds exactly n; else ``bench/corpus/first-<n>``,
    made of hard links (copies where links fail), so no photo is drawn twice.
    """
    paths = ensure_corpus(n, **kwargs)
    if len(list(PHOTOS.glob("*.jpg"))) == n:
        return PHOTOS
    subset = CORPUS / f"first-{n}"
    subset.mkdir(parents=True, exist_ok=True)
    wanted = {p.name for p in paths}
    for extra in subset.glob("*.jpg"):
        if extra.name not in wanted:
            extra.unlink()
    for p in paths:
        link = subset / p.name
        if link.exists() and link.stat().st_ino == p.stat().st_ino:
            continue
        link.unlink(missing_ok=True)
        try:
            os.link(p, link)
        except OSError:  # another file system, or links not allowed
            shutil.copyfile(p, link)
    return subset


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=450, help="how many photos (default 450)")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--quality", type=int, default=90)
    ap.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    paths = ensure_corpus(args.photos, args.seed, args.quality, args.workers)
    size = sum(p.stat().st_size for p in paths)
    print(f"{len(paths)} photos in {PHOTOS} ({size / 1e6:.0f} MB, "
          f"{time.perf_counter() - t0:.1f} s)")
    print(f"average: {bytes_per_pixel(paths):.3f} bytes/pixel (real photos at q90: ~0.11)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
