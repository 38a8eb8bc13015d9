"""Make sample photos for the example workflows (no download).

    python workflows/make_photos.py [--count 24] [--out workflows/photos]

Photo-like pictures: soft colour fields, a gradient, film-like grain and a few
hard edges, as JPEGs (and one PNG) in two sub-folders, so ``{relpath}`` has
something to show. The same arguments always give the same files.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path


def make_photo(path: Path, size: tuple[int, int], seed: int) -> None:
    """Draw one photo-like picture and save it at ``path`` (format from the suffix)."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(seed)
    small = Image.new("RGB", (6, 4))
    small.putdata([tuple(rng.randrange(40, 230) for _ in range(3)) for _ in range(24)])
    img = small.resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(3):  # a few hard edges, as objects in a scene
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        w, h = rng.randrange(20, size[0] // 3), rng.randrange(20, size[1] // 3)
        draw.rectangle((x, y, x + w, y + h), fill=tuple(rng.randrange(256) for _ in range(3)))
    grain = Image.effect_noise(size, 12 + seed % 10).convert("RGB")
    img = Image.blend(img, grain, 0.12).filter(ImageFilter.SMOOTH)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, quality=90) if path.suffix == ".jpg" else img.save(path)


def make_photos(folder: Path, count: int = 24, size: tuple[int, int] = (1600, 1067),
                subfolders: bool = True) -> list[Path]:
    """``count`` photos under ``folder`` (split across two sub-folders); returns their paths."""
    out = []
    for i in range(count):
        sub = ("city" if i % 2 else "coast") if subfolders else ""
        suffix = ".png" if subfolders and i == count - 1 else ".jpg"
        path = folder / sub / f"photo_{i:02d}{suffix}"
        if not path.exists():
            make_photo(path, size, seed=i)
        out.append(path)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=24)
    ap.add_argument("--out", default=str(Path(__file__).parent / "photos"))
    args = ap.parse_args()
    paths = make_photos(Path(args.out), args.count)
    print(f"{len(paths)} sample photos in {args.out}")


if __name__ == "__main__":
    main()
