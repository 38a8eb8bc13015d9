"""The image steps, called as plain functions on real Pillow images and real files."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from array import array
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from steps import image as S
from steps.image_open import ImageError
from steps.image_sheet import contact_sheet
from steps.image_spill import SPILL_SUFFIX, spill
from steps.registry import StepNotice, step_def

try:
    from tests.make_corpus import make_corpus, photo_like
except ImportError:  # tests/ is not a package: pytest put its folder on sys.path
    from make_corpus import make_corpus, photo_like


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def big_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1600x1200 photo-like JPEG: big enough for a 1/8 draft to a thumbnail."""
    path = tmp_path_factory.mktemp("big") / "big.jpg"
    photo_like((1600, 1200), 1).save(path, quality=90)
    return path


def mean_diff(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size and a.mode == b.mode
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / len(a.getbands())


def full(path: Path) -> Image.Image:
    img = Image.open(path)
    img.load()
    return img


# ---------------------------------------------------------------- open

def test_import_does_not_load_pillow():
    code = ("import importlib, sys; from steps.registry import BUILTIN_MODULES; "
            "[importlib.import_module(m) for m in BUILTIN_MODULES]; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'PIL'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "[]"


def test_open_is_lazy_so_a_later_step_can_draft(big_jpeg):
    img = S.open_(str(big_jpeg))
    assert img.size == (1600, 1200)
    assert img.tile, "pixels must not be decoded yet"
    assert img.draft("RGB", (200, 150)) is not None


def test_open_accepts_paths_and_images(big_jpeg):
    assert S.open_(big_jpeg).size == (1600, 1200)
    img = Image.new("RGB", (3, 2))
    assert S.open_(img) is img
    with pytest.raises(ImageError, match="expected an image"):
        S.open_(42)


# ---------------------------------------------------------------- shrink-on-load

@pytest.mark.parametrize("box, fit", [((256, 256), "contain"), ((200, 200), "cover"),
                                      ((300, 100), "stretch"), ((256, 256), "pad"),
                                      ((150, 400), "cover")])
def test_downsizing_resize_decodes_at_reduced_scale_same_size_same_look(big_jpeg, box, fit):
    src = S.open_(str(big_jpeg))
    drafted = S.resize(src, width=box[0], height=box[1], fit=fit)
    assert src.size[0] < 1600, "the JPEG should have been decoded at a reduced scale"
    plain = S.resize(full(big_jpeg), width=box[0], height=box[1], fit=fit)
    assert drafted.size == plain.size
    assert mean_diff(drafted, plain) < 2.0


@pytest.mark.parametrize("size", [256, [300, 120], [64, 64], 1000])
def test_thumbnail_matches_pillow_size_and_look(big_jpeg, size):
    box = (size, size) if isinstance(size, int) else tuple(size)
    expected = full(big_jpeg)
    expected.thumbnail(box, reducing_gap=None)
    src = S.open_(str(big_jpeg))
    got = S.thumbnail(src, size=size)
    assert got.size == expected.size
    assert mean_diff(got, expected) < 2.0


def test_thumbnail_never_enlarges_and_leaves_small_images_lazy(corpus):
    src = S.open_(str(corpus["good_landscape"]))
    out = S.thumbnail(src, size=4000)
    assert out is src and out.tile


@pytest.mark.parametrize("shape", [(1601, 1199), (1000, 999), (17, 4001)])
def test_resize_sizes_are_exact_with_odd_dimensions(tmp_path, shape):
    path = tmp_path / "odd.jpg"
    photo_like(shape, 2).save(path, quality=85)
    for fit in ("contain", "cover", "stretch", "pad"):
        drafted = S.resize(S.open_(str(path)), width=120, height=90, fit=fit)
        plain = S.resize(full(path), width=120, height=90, fit=fit)
        assert drafted.size == plain.size, fit
        if fit != "contain":
            assert drafted.size == (120, 90)


def test_resize_one_side_keeps_the_aspect(big_jpeg):
    assert S.resize(S.open_(str(big_jpeg)), width=400).size == (400, 300)
    assert S.resize(S.open_(str(big_jpeg)), height=30).size == (40, 30)


def test_resize_enlarges_and_pads_with_a_colour():
    img = Image.new("RGB", (40, 20), "white")
    assert S.resize(img, width=80, height=80).size == (80, 40)
    padded = S.resize(img, width=80, height=80, fit="pad", color="red")
    assert padded.size == (80, 80)
    assert padded.getpixel((40, 2)) == (255, 0, 0)
    assert padded.getpixel((40, 40)) == (255, 255, 255)


def test_resize_palette_image_is_smoothed_not_nearest(corpus):
    out = S.resize(S.open_(str(corpus["palette_alpha"])), width=32, height=24)
    assert out.mode == "RGBA"


# ---------------------------------------------------------------- geometry and tone

def test_auto_orient_turns_exif_6_upright(corpus):
    out = S.auto_orient(S.open_(str(corpus["exif_rotated"])))
    assert out.size == (40, 80)
    r, g, b = out.getpixel((30, 5))  # the red block, stored top-left, shown top-right
    assert r > 200 and g < 60 and b < 60
    assert out.getexif().get(0x0112, 1) == 1


def test_auto_orient_upright_image_is_returned_untouched_and_lazy(big_jpeg):
    src = S.open_(str(big_jpeg))
    assert S.auto_orient(src) is src and src.tile


def test_crop_by_edges_and_by_box():
    img = Image.new("RGB", (100, 50))
    assert S.crop(img, left=10, top=5, right=60, bottom=45).size == (50, 40)
    assert S.crop(img, box=[0, 0, 10, 10]).size == (10, 10)
    assert S.crop(img, top=10).size == (100, 40)
    with pytest.raises(ImageError, match="outside the 100x50 image"):
        S.crop(img, right=101)


def test_rotate_and_flip():
    img = Image.new("RGB", (60, 20), "black")
    img.putpixel((0, 0), (255, 0, 0))
    assert S.rotate(img, degrees=90).size == (20, 60)
    assert S.rotate(img, degrees=90).getpixel((0, 59)) == (255, 0, 0)  # counter-clockwise
    assert S.rotate(img, degrees=-90).getpixel((19, 0)) == (255, 0, 0)
    assert S.rotate(img, degrees=45).size[1] > 50  # expanded to hold the corners
    assert S.rotate(img, degrees=30, expand=False).size == (60, 20)
    assert S.flip(img).getpixel((59, 0)) == (255, 0, 0)
    assert S.flip(img, direction="vertical").getpixel((0, 19)) == (255, 0, 0)


def test_grayscale_convert_blur_sharpen_autocontrast(corpus):
    img = S.open_(str(corpus["good_landscape"]))
    grey = S.grayscale(img)
    assert grey.mode == "L"
    assert S.grayscale(S.open_(str(corpus["rgba"]))).mode == "LA"
    assert S.convert(img, mode="CMYK").mode == "CMYK"
    assert S.convert(S.open_(str(corpus["rgba"])), mode="P").mode == "P"
    blurred = S.blur(grey, radius=4)
    assert ImageStat.Stat(blurred).stddev[0] < ImageStat.Stat(grey).stddev[0]
    sharp = S.sharpen(grey)
    assert ImageStat.Stat(sharp).stddev[0] > ImageStat.Stat(grey).stddev[0]
    flat = Image.linear_gradient("L").point(lambda v: 100 + v // 4)  # tones 100..163
    stretched = S.autocontrast(flat)
    lo, hi = stretched.getextrema()
    assert lo == 0 and hi >= 250
    with_alpha = S.autocontrast(S.open_(str(corpus["rgba"])))
    assert with_alpha.mode == "RGBA"
    assert with_alpha.getchannel("A").tobytes() == full(corpus["rgba"]).getchannel("A").tobytes()


def test_convert_scales_16_bit_instead_of_clipping(corpus):
    out = S.convert(S.open_(str(corpus["gray16"])), mode="L")
    lo, hi = out.getextrema()
    assert lo < 10 and 240 < hi <= 255  # clipping would make nearly all of it 255
    with pytest.raises(ImageError, match="use image.convert first"):
        S.blur(S.open_(str(corpus["gray16"])))


# ---------------------------------------------------------------- measure

def test_measure_sizes_come_from_the_header(big_jpeg):
    img = S.open_(str(big_jpeg))
    assert S.measure(img, what="width") == 1600
    assert S.measure(img, what="height") == 1200
    assert S.measure(img, what="pixels") == 1600 * 1200
    assert S.measure(img, what="aspect") == pytest.approx(4 / 3)
    assert img.tile, "sizes need no decoding"


def test_measure_brightness_is_the_mean_of_l(big_jpeg, corpus):
    expected = ImageStat.Stat(full(big_jpeg).convert("L")).mean[0]
    assert S.measure(S.open_(str(big_jpeg)), what="brightness") == pytest.approx(expected,
                                                                                abs=0.5)
    assert S.measure(Image.new("L", (4, 4), 200), what="brightness") == 200.0
    assert S.measure(Image.new("RGB", (4, 4), "white"), what="brightness") == 255.0
    deep = S.measure(S.open_(str(corpus["gray16"])), what="brightness")  # 16-bit: scaled
    tones = array("H", full(corpus["gray16"]).tobytes())  # I;16: little-endian uint16
    assert deep == pytest.approx(sum(tones) / len(tones) / 256, abs=1)
    cmyk = S.measure(S.open_(str(corpus["cmyk"])), what="brightness")
    assert cmyk == pytest.approx(ImageStat.Stat(full(corpus["cmyk"]).convert("L")).mean[0])


# ---------------------------------------------------------------- save

def test_save_writes_the_format_of_the_suffix_and_returns_the_path(tmp_path, big_jpeg):
    img = S.thumbnail(S.open_(str(big_jpeg)), size=128)
    for name, fmt in [("a/b/t.jpg", "JPEG"), ("t.png", "PNG"), ("t.webp", "WEBP"),
                      ("t.tif", "TIFF")]:
        out = S.save(img, to=str(tmp_path / name))
        assert out == str(tmp_path / name)
        with Image.open(out) as back:
            assert back.format == fmt and back.size == img.size
    out = S.save(img, to=str(tmp_path / "noext"), format="png")
    assert Image.open(out).format == "PNG"
    assert [p.name for p in tmp_path.rglob(".*")] == []  # no temporary files left


def test_save_quality_changes_the_jpeg(tmp_path, big_jpeg):
    img = S.open_(str(big_jpeg))
    low = Path(S.save(img, to=str(tmp_path / "low.jpg"), quality=20)).stat().st_size
    high = Path(S.save(img, to=str(tmp_path / "high.jpg"), quality=95)).stat().st_size
    assert low < high / 2


def test_save_keeps_exif_orientation_when_not_auto_oriented(tmp_path, corpus):
    out = S.save(S.open_(str(corpus["exif_rotated"])), to=str(tmp_path / "kept.jpg"))
    assert Image.open(out).getexif().get(0x0112) == 6
    upright = S.auto_orient(S.open_(str(corpus["exif_rotated"])))
    out = S.save(upright, to=str(tmp_path / "upright.jpg"))
    assert Image.open(out).getexif().get(0x0112, 1) == 1


# ---------------------------------------------------------------- spill

@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "YCbCr", "I",
                                  "I;16", "F", "HSV", "LAB", "RGBa", "PA"])
def test_spill_round_trips_every_mode(tmp_path, mode):
    src = photo_like((37, 23), 1).convert("RGBA")
    img = src.convert(mode) if mode not in ("PA", "RGBa") else Image.new(mode, (37, 23))
    if mode == "P":
        img.info["transparency"] = 3
    img.info["dpi"] = (72.0, 72.0)
    path = spill(img, str(tmp_path))
    assert Path(path).parent == tmp_path and path.endswith(SPILL_SUFFIX)
    back = S.open_(path)
    assert (back.mode, back.size) == (img.mode, img.size)
    assert back.tobytes() == img.tobytes()
    assert back.info["dpi"] == (72.0, 72.0)
    if mode == "P":
        assert back.getpalette() == img.getpalette()
        assert back.info["transparency"] == 3


def test_spill_names_are_unique(tmp_path):
    img = Image.new("RGB", (2, 2))
    assert len({spill(img, str(tmp_path)) for _ in range(50)}) == 50


def test_a_file_with_the_spill_suffix_but_other_content_is_refused(tmp_path):
    fake = tmp_path / "x.flowimg"
    fake.write_bytes(b"\x80\x04K\x01.")  # a pickle: never unpickled
    with pytest.raises(ImageError, match="not a flow spill file"):
        S.open_(str(fake))


# ---------------------------------------------------------------- contact sheet

def test_contact_sheet_from_paths_and_images(tmp_path, corpus):
    values = [str(corpus["good_landscape"]), S.open_(str(corpus["good_portrait"])),
              str(corpus["rgba"]), str(corpus["gray16"]), str(corpus["cmyk"])]
    out = contact_sheet(values, to=str(tmp_path / "sheet.jpg"), columns=2, tile=64)
    with Image.open(out) as sheet:
        assert sheet.size == (128, 192) and sheet.mode == "RGB"
    assert step_def(contact_sheet).kind == "reduce"


def test_contact_sheet_leaves_out_unreadable_images_and_says_so(tmp_path, corpus):
    values = [str(corpus["good_wide"]), str(corpus["truncated"]), str(corpus["text"])]
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        out = contact_sheet(values, to=str(tmp_path / "s.png"), tile=32)
    assert Image.open(out).size == (64, 64)
    notes = [str(w.message) for w in got if issubclass(w.category, StepNotice)]
    assert notes == ["contact sheet: 2 unreadable image(s) left out"]


def test_contact_sheet_default_columns_make_a_square_ish_sheet(tmp_path):
    imgs = [Image.new("RGB", (10, 10), c) for c in ("red", "green", "blue", "white", "black")]
    out = contact_sheet(imgs, to=str(tmp_path / "s.png"), tile=10)
    assert Image.open(out).size == (30, 20)
    assert math.isclose(S.measure(Image.open(out), what="aspect"), 1.5)
