"""What users write instead of flow to make 256 px thumbnails: the comparison scripts.

Each one resizes every ``*.jpg`` of a folder to fit 256x256 and saves a JPEG at
quality 85 into its own output folder. The Python ones run as a program, so a
benchmark times them as a whole process, exactly as it times ``flow run``:

    python bench/baselines.py hand-tuned SRC_DIR OUT_DIR [--workers N]
    python bench/baselines.py tutorial   SRC_DIR OUT_DIR
    python bench/baselines.py pyvips     SRC_DIR OUT_DIR [--workers N]

The command-line tools (libvips' vipsthumbnail, ImageMagick's mogrify and
convert, GNU parallel) are described by :data:`TOOLS` as shell commands; a tool
that is not installed is reported, never a crash.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

BOX = 256  # fit inside BOX x BOX
QUALITY = 85


def fit_size(width: int, height: int, box: int = BOX) -> tuple[int, int]:
    """The size that fits ``box`` x ``box`` keeping the aspect, rounded as Pillow's thumbnail."""
    if width <= box and height <= box:
        return width, height
    aspect = width / height

    def nearest(number: float, key: Callable[[int], float]) -> int:
        return max(min(math.floor(number), math.ceil(number), key=key), 1)

    if aspect >= 1:
        return box, nearest(box / aspect, key=lambda n: 0 if n == 0 else abs(aspect - box / n))
    return nearest(box * aspect, key=lambda n: abs(aspect - n / box)), box


# --- the hand-tuned script: the fastest we know ----------------------------------------

def _hand_tuned_one(job: tuple[str, str]) -> None:
    from PIL import Image

    src, dst = job
    im = Image.open(src)
    size = fit_size(*im.size)
    # Decode the JPEG at 1/2, 1/4 or 1/8 scale (DCT scaling), the smallest that still
    # leaves at least the final size: most of the work saved. Asking for the fitted size
    # rather than (BOX, BOX) lets portraits and small photos reach 1/8 too.
    drafted = im.draft("RGB", size)
    box = drafted[1] if drafted else None  # the original frame in the reduced image
    im.resize(size, Image.Resampling.LANCZOS, box=box).save(dst, quality=QUALITY)


def hand_tuned(src_dir: Path, out_dir: Path, workers: int | None = None) -> int:
    """Pool(cores), ``Image.draft`` then a Lanczos resize and save. Returns the count."""
    jobs = _jobs(src_dir, out_dir)
    with Pool(workers or os.cpu_count()) as pool:
        for _ in pool.imap_unordered(_hand_tuned_one, jobs, chunksize=1):
            pass
    return len(jobs)


# --- the tutorial script: what most people write ------------------------------------

def _tutorial_one(job: tuple[str, str]) -> None:
    from PIL import Image

    src, dst = job
    im = Image.open(src)
    im = im.resize(fit_size(*im.size))  # full decode, then Pillow's default (bicubic)
    im.save(dst, quality=QUALITY)


def tutorial(src_dir: Path, out_dir: Path, workers: int | None = None) -> int:
    """``Pool(4).map`` over the files, plain open + resize + save, no draft."""
    jobs = _jobs(src_dir, out_dir)
    with Pool(workers or 4) as pool:
        pool.map(_tutorial_one, jobs)
    return len(jobs)


# --- libvips from Python -------------------------------------------------------------

def _pyvips_init() -> None:
    import pyvips

    pyvips.cache_set_max(0)  # distinct files: a cache only holds memory


def _pyvips_one(job: tuple[str, str]) -> None:
    import pyvips

    src, dst = job
    # thumbnail() shrinks on load (JPEG DCT scaling) and fits the box.
    pyvips.Image.thumbnail(src, BOX, height=BOX).write_to_file(dst, Q=QUALITY)


def pyvips_pool(src_dir: Path, out_dir: Path, workers: int | None = None) -> int:
    """``pyvips.Image.thumbnail`` in a Pool(cores); one libvips thread per process."""
    # The pool gives the parallelism; libvips' own threads would only oversubscribe.
    os.environ.setdefault("VIPS_CONCURRENCY", "1")
    import pyvips  # noqa: F401  (fail here, before the pool, when libvips is missing)

    jobs = _jobs(src_dir, out_dir)
    with Pool(workers or os.cpu_count(), initializer=_pyvips_init) as pool:
        for _ in pool.imap_unordered(_pyvips_one, jobs, chunksize=1):
            pass
    return len(jobs)


def pyvips_missing() -> str | None:
    """Why pyvips cannot run here, or None when it can."""
    try:
        import pyvips  # noqa: F401
    except (ImportError, OSError) as exc:  # OSError: the pip package without libvips
        return f"not installed ({type(exc).__name__}: {str(exc)[:80]})"
    return None


def _jobs(src_dir: Path, out_dir: Path) -> list[tuple[str, str]]:
    out_dir.mkdir(parents=True, exist_ok=True)
    return [(str(p), str(out_dir / f"{p.stem}.jpg")) for p in sorted(src_dir.glob("*.jpg"))]


PYTHON_SCRIPTS: dict[str, Callable[[Path, Path, int | None], int]] = {
    "hand-tuned": hand_tuned, "tutorial": tutorial, "pyvips": pyvips_pool}


# --- the table of tools ----------------------------------------------------------------

@dataclass(frozen=True)
class Tool:
    """One way to make the thumbnails: a label and how to build its command."""

    key: str
    label: str
    # (src_dir, out_dir, workers) -> argv, or a str saying why it cannot run here.
    command: Callable[[Path, Path, int], list[str] | str]


def _python(key: str, workers: bool = True) -> Callable[[Path, Path, int], list[str] | str]:
    def command(src: Path, out: Path, n: int) -> list[str] | str:
        if key == "pyvips" and (why := pyvips_missing()):
            return why
        extra = ["--workers", str(n)] if workers else []
        return [sys.executable, str(Path(__file__).resolve()), key, str(src), str(out), *extra]
    return command


def _imagemagick(tool: str) -> list[str] | None:
    """The real ImageMagick ``mogrify``/``convert`` (IM6 names, or IM7's ``magick``)."""
    if shutil.which("magick"):
        return ["magick", tool]
    mogrify = shutil.which("mogrify")
    if mogrify is None:
        return None
    # convert beside mogrify: a `convert` earlier on PATH may not be ImageMagick's.
    found = Path(mogrify).with_name(tool)
    return [str(found)] if found.exists() else None


def _sh(*parts: str) -> list[str]:
    return ["sh", "-c", " ".join(parts)]


def _jpgs(src: Path) -> str:
    return f"{shlex.quote(str(src))}/*.jpg"


def _vipsthumbnail(src: Path, out: Path, n: int) -> list[str] | str:
    if not shutil.which("vipsthumbnail"):
        return "not installed (apt-get install libvips-tools)"
    # -o with an absolute path; %s is the input's stem. Batches of 8 keep both cores busy.
    dest = shlex.quote(f"{out.resolve()}/%s.jpg[Q={QUALITY}]")
    return _sh(f"printf '%s\\n' {_jpgs(src)} | xargs -d '\\n' -P {n} -n 8",
               f"vipsthumbnail -s {BOX} -o {dest}")


def _mogrify(hint: bool) -> Callable[[Path, Path, int], list[str] | str]:
    def command(src: Path, out: Path, n: int) -> list[str] | str:
        mog = _imagemagick("mogrify")
        if mog is None:
            return "not installed (apt-get install imagemagick)"
        define = "-define jpeg:size=512x512" if hint else ""
        return _sh(shlex.join(mog), f"-path {shlex.quote(str(out))}", define,
                   f"-resize {BOX}x{BOX} -quality {QUALITY}", _jpgs(src))
    return command


def _parallel_convert(hint: bool) -> Callable[[Path, Path, int], list[str] | str]:
    def command(src: Path, out: Path, n: int) -> list[str] | str:
        conv = _imagemagick("convert")
        if conv is None or not shutil.which("parallel"):
            return "not installed (apt-get install imagemagick parallel)"
        define = "-define jpeg:size=512x512" if hint else ""
        return _sh(f"parallel --will-cite -j {n}", shlex.join(conv), define,
                   f"{{}} -resize {BOX}x{BOX} -quality {QUALITY}",
                   f"{shlex.quote(str(out))}/{{/}} ::: {_jpgs(src)}")
    return command


TOOLS: dict[str, Tool] = {t.key: t for t in (
    Tool("hand-tuned", "hand-tuned: Pool(cores) + draft + resize", _python("hand-tuned")),
    Tool("tutorial", "tutorial: Pool(4).map + resize", _python("tutorial", workers=False)),
    Tool("pyvips", "pyvips thumbnail in Pool(cores)", _python("pyvips")),
    Tool("vipsthumbnail", "vipsthumbnail via xargs -P cores", _vipsthumbnail),
    Tool("mogrify", "ImageMagick mogrify", _mogrify(hint=False)),
    Tool("mogrify-hint", "ImageMagick mogrify -define jpeg:size", _mogrify(hint=True)),
    Tool("parallel-convert", "GNU parallel + convert", _parallel_convert(hint=False)),
    Tool("parallel-convert-hint", "GNU parallel + convert -define jpeg:size",
         _parallel_convert(hint=True)),
)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run one Python comparison script.")
    ap.add_argument("script", choices=sorted(PYTHON_SCRIPTS))
    ap.add_argument("src", type=Path, help="folder of *.jpg")
    ap.add_argument("out", type=Path, help="output folder")
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args(argv)
    if args.script == "pyvips" and (why := pyvips_missing()):
        print(f"pyvips: {why}", file=sys.stderr)
        return 3
    count = PYTHON_SCRIPTS[args.script](args.src, args.out, args.workers)
    print(f"{args.script}: {count} images -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
