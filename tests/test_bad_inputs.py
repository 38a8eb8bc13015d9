"""Bad input files fail alone, fast, with a one-line reason.

Every case is a real file from the adversarial corpus (tests/make_corpus.py) put
through the real step functions.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from PIL import Image, ImageFile

from steps import image as S
from steps.image_open import ImageError
from steps.image_spill import spill
from steps.registry import StepNotice
from tests.timing import limit

try:
    from tests.make_corpus import make_corpus, photo_like
except ImportError:  # tests/ is not a package: pytest put its folder on sys.path
    from make_corpus import make_corpus, photo_like

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


def reason(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and len(text) < 200, text
    return text


# ---------------------------------------------------------------- unreadable files

@pytest.mark.parametrize("name, expected", [
    ("empty", "empty file"),
    ("text", "a text file, not an image"),
    ("broken_header", "broken JPEG header"),
])
def test_unreadable_files_fail_at_open_with_a_short_reason(corpus, name, expected):
    with pytest.raises(ImageError) as exc:
        S.open_(str(corpus[name]))
    text = reason(exc)
    assert text.startswith(expected)
    assert str(corpus[name].parent) not in text  # the report names the item already


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(ImageError, match="^file not found$"):
        S.open_(str(tmp_path / "gone.jpg"))


def test_image_errors_survive_the_trip_between_processes(corpus):
    with pytest.raises(ImageError) as exc:
        S.open_(str(corpus["empty"]))
    back = pickle.loads(pickle.dumps(exc.value))
    assert type(back) is ImageError and str(back) == "empty file"


# ---------------------------------------------------------------- truncated

@pytest.mark.parametrize("run", [
    lambda img, d: S.thumbnail(img, size=32),  # decodes at 1/8 scale: must still fail
    lambda img, d: S.resize(img, width=300, height=300),
    lambda img, d: S.save(img, to=str(d / "out.jpg")),
    lambda img, d: S.measure(img, what="brightness"),
    lambda img, d: S.grayscale(img),
    lambda img, d: S.crop(img, right=10),
    lambda img, d: spill(img, str(d)),
], ids=["thumbnail", "resize", "save", "brightness", "grayscale", "crop", "spill"])
def test_a_truncated_jpeg_fails_in_the_step_that_decodes_never_padded_grey(
        corpus, tmp_path, run):
    img = S.open_(str(corpus["truncated"]))  # the header is fine: opening succeeds
    with pytest.raises(ImageError) as exc:
        run(img, tmp_path)
    assert reason(exc).startswith("truncated image data")
    assert not (tmp_path / "out.jpg").exists()
    assert list(tmp_path.iterdir()) == []  # no spill file, no temporary file
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_every_cut_of_a_jpeg_fails(tmp_path):
    path = tmp_path / "whole.jpg"
    photo_like((320, 240), 4).save(path, quality=90)
    data = path.read_bytes()
    for cut in (len(data) // 10, len(data) // 2, len(data) - 100, len(data) - 3):
        part = tmp_path / f"cut{cut}.jpg"
        part.write_bytes(data[:cut])
        with pytest.raises(ImageError):
            S.thumbnail(S.open_(str(part)), size=64).load()


# ---------------------------------------------------------------- decompression bombs

@pytest.mark.timing
@pytest.mark.parametrize("name", ["bomb", "bomb_warn"])
def test_decompression_bombs_are_refused_fast(corpus, name):
    t0 = time.perf_counter()
    with pytest.raises(ImageError) as exc:
        S.open_(str(corpus[name]))
    assert time.perf_counter() - t0 < limit(1.0)
    assert "decompression bomb" in reason(exc)
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # flow keeps Pillow's limit


@pytest.mark.timing
def test_a_bomb_is_refused_without_allocating_its_pixels(corpus):
    # A fresh process so its peak memory is its own; the bomb decodes to ~190 MB.
    code = f"""
import resource, time
import PIL.Image, PIL.PngImagePlugin
from steps.image import open_
from steps.image_open import ImageError
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
try:
    open_({str(corpus["bomb"])!r})
except ImageError:
    pass
else:
    raise SystemExit("not refused")
print(time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    seconds, grown_kb = out.stdout.split()
    assert float(seconds) < limit(1.0)
    assert int(grown_kb) < 20_000


# ---------------------------------------------------------------- multi-frame, EXIF

def test_a_multi_frame_file_gives_its_first_frame_and_one_notice(corpus):
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        img = S.open_(str(corpus["animated_gif"]))
        out = S.thumbnail(S.resize(img, width=20, height=15), size=10)
    notes = [str(w.message) for w in got if issubclass(w.category, StepNotice)]
    assert notes == ["multi-frame file: first frame used"]
    assert out.convert("RGB").getpixel((2, 2)) == (255, 0, 0)  # frame 1 is red
    assert not [w for w in got if issubclass(w.category, ResourceWarning)]


def test_exif_orientation_is_honoured(corpus):
    img = S.auto_orient(S.open_(str(corpus["exif_rotated"])))
    assert img.size == (40, 80)


# ---------------------------------------------------------------- modes a format cannot store

def saved(img: Image.Image, path: Path) -> Image.Image:
    out = Image.open(S.save(img, to=str(path)))
    out.load()
    return out


def test_cmyk_stays_cmyk_in_jpeg_and_becomes_rgb_in_png(corpus, tmp_path):
    src = S.open_(str(corpus["cmyk"]))
    assert saved(src, tmp_path / "c.jpg").mode == "CMYK"
    assert saved(S.open_(str(corpus["cmyk"])), tmp_path / "c.png").mode == "RGB"


def test_16_bit_is_kept_where_the_format_can(corpus, tmp_path):
    src = S.open_(str(corpus["gray16"]))
    for name in ("g.png", "g.tif"):
        back = saved(S.open_(str(corpus["gray16"])), tmp_path / name)
        assert back.mode.startswith("I")
        assert back.getextrema() == src.getextrema()
        assert src.getextrema()[1] > 60000  # really 16-bit data
        assert back.convert("I").tobytes() == src.convert("I").tobytes()


def test_16_bit_to_jpeg_is_scaled_to_8_bit_with_a_notice(corpus, tmp_path):
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        back = saved(S.open_(str(corpus["gray16"])), tmp_path / "g.jpg")
    assert back.mode == "L"
    lo, hi = back.getextrema()
    assert lo < 10 and hi > 245  # scaled, not clipped to white
    notes = [str(w.message) for w in got if issubclass(w.category, StepNotice)]
    assert notes == ["16-bit image saved as 8-bit JPEG"]


def test_palette_with_transparency(corpus, tmp_path):
    png = saved(S.open_(str(corpus["palette_alpha"])), tmp_path / "p.png")
    assert png.mode == "P" and "transparency" in png.info
    with pytest.raises(ImageError) as exc:
        S.save(S.open_(str(corpus["palette_alpha"])), to=str(tmp_path / "p.jpg"))
    assert reason(exc) == ("cannot save RGBA with transparency as JPEG, which has no alpha: "
                           "add an image.flatten step before image.save (with: {background: "
                           "white}), or use .png or .webp")
    opaque = Image.open(corpus["palette_alpha"]).convert("RGB").convert("P")
    assert saved(opaque, tmp_path / "o.jpg").mode == "RGB"


def test_alpha_is_dropped_only_when_fully_opaque(corpus, tmp_path):
    assert saved(S.open_(str(corpus["rgba_opaque"])), tmp_path / "o.jpg").mode == "RGB"
    assert saved(Image.new("LA", (8, 8), (90, 255)), tmp_path / "la.jpg").mode == "L"
    with pytest.raises(ImageError, match="use .png"):
        S.save(S.open_(str(corpus["rgba"])), to=str(tmp_path / "t.jpg"))
    with pytest.raises(ImageError, match="cannot save LA with transparency as JPEG"):
        S.save(Image.new("LA", (8, 8), (90, 10)), to=str(tmp_path / "la2.jpg"))
    assert not list(tmp_path.glob("t.jpg")) and not list(tmp_path.glob(".*"))


def test_float_images_are_refused_for_jpeg_with_a_way_out(tmp_path):
    with pytest.raises(ImageError, match=r"use \.tiff"):
        S.save(Image.new("F", (4, 4), 0.5), to=str(tmp_path / "f.jpg"))
    assert saved(Image.new("F", (4, 4), 0.5), tmp_path / "f.tif").mode == "F"


def test_unknown_suffix_asks_for_a_format(tmp_path):
    with pytest.raises(ImageError, match="give 'format'"):
        S.save(Image.new("RGB", (4, 4)), to=str(tmp_path / "x.unknownext"))
