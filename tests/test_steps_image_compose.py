"""image.flatten, image.pad, image.overlay, image.text and image.filter as plain functions,
on real images and the odd ones of tests/make_corpus.py (CMYK, 16-bit, palette with
transparency, EXIF-rotated)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from steps import image as S
from steps.image import ImageError
from steps.image_compose import flatten, overlay, pad_to
from steps.image_filter import filter_
from steps.image_text import text
from steps.registry import StepNotice
from tests.make_corpus import make_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def mark(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 20x10 watermark: opaque red, its right half half-transparent."""
    img = Image.new("RGBA", (20, 10), (255, 0, 0, 255))
    img.paste((255, 0, 0, 128), (10, 0, 20, 10))
    path = tmp_path_factory.mktemp("mark") / "mark.png"
    img.save(path)
    return str(path)


def near(a, b, tol: int = 3) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def notices(fn, *args, **kw):
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        out = fn(*args, **kw)
    return out, [str(w.message) for w in got if issubclass(w.category, StepNotice)]


# ---------------------------------------------------------------- flatten

def test_flatten_lays_transparency_onto_the_background(corpus):
    src = Image.open(corpus["rgba"])
    out = flatten(S.open_(str(corpus["rgba"])), background="red")
    assert out.mode == "RGB" and out.size == src.size
    r, g, b, a = src.getpixel((5, 0))  # nearly transparent: nearly the background
    assert near(out.getpixel((5, 0)), [round(c * a / 255 + bg * (255 - a) / 255)
                                       for c, bg in zip((r, g, b), (255, 0, 0), strict=True)])
    assert near(out.getpixel((5, 47)), src.getpixel((5, 47))[:3], 6)  # nearly opaque


def test_flatten_palette_with_transparency(corpus):
    src = Image.open(corpus["palette_alpha"])
    hole = next((x, y) for y in range(src.height) for x in range(src.width)
                if src.getpixel((x, y)) == 0)  # index 0 is the transparent one
    out = flatten(S.open_(str(corpus["palette_alpha"])), background="#00ff00")
    assert out.mode == "RGB" and out.getpixel(hole) == (0, 255, 0)
    assert "transparency" not in out.info


def test_flatten_grey_stays_grey_on_a_grey_background():
    la = Image.merge("LA", [Image.new("L", (8, 8), 200), Image.new("L", (8, 8), 0)])
    assert flatten(la, background="white").mode == "L"
    assert flatten(la, background="white").getpixel((0, 0)) == 255
    assert flatten(la, background="blue").mode == "RGB"
    keyed = Image.new("L", (4, 4), 9)  # one grey marked transparent, as a PNG tRNS does
    keyed.info["transparency"] = 9
    assert flatten(keyed, background="white").getpixel((1, 1)) == 255


@pytest.mark.parametrize("key", ["good_wide", "cmyk", "gray16", "exif_rotated"])
def test_flatten_leaves_images_without_transparency_untouched(corpus, key):
    img = S.open_(str(corpus[key]))
    assert flatten(img) is img and img.tile  # not even decoded


# ---------------------------------------------------------------- pad

def test_pad_centres_on_a_coloured_canvas_and_places_by_position():
    img = Image.new("RGB", (40, 20), "white")
    out = pad_to(img, width=80, height=40, color="red")
    assert out.size == (80, 40)
    assert out.getpixel((1, 1)) == (255, 0, 0) and out.getpixel((40, 20)) == (255, 255, 255)
    corner = pad_to(img, width=80, height=40, color="red", position="top-left")
    assert corner.getpixel((1, 1)) == (255, 255, 255) and corner.getpixel((79, 39)) == (255, 0, 0)
    assert pad_to(img, height=30).size == (40, 30)
    assert pad_to(img, width=40) is img  # already that size


def test_pad_refuses_a_canvas_smaller_than_the_image():
    with pytest.raises(ImageError, match="larger than the 30x30 canvas; shrink it first"):
        pad_to(Image.new("RGB", (40, 20)), width=30, height=30)


def test_pad_odd_images(corpus):
    cmyk = pad_to(S.open_(str(corpus["cmyk"])), width=200, height=200, color="red")
    assert cmyk.mode == "CMYK"
    assert near(cmyk.convert("RGB").getpixel((0, 0)), (255, 0, 0))  # red, not cyan ink
    deep = pad_to(S.open_(str(corpus["gray16"])), width=100, color="white")
    assert deep.mode == "I;16" and deep.getpixel((0, 0)) == 65535  # white, not nearly black
    pal = pad_to(S.open_(str(corpus["palette_alpha"])), width=100)
    assert pal.mode == "RGBA" and pal.getpixel((0, 0))[3] == 0  # transparent by default
    upright = pad_to(S.auto_orient(S.open_(str(corpus["exif_rotated"]))), width=60, height=80)
    assert upright.size == (60, 80)


def test_resize_pad_colour_is_right_on_cmyk(corpus):
    out = S.resize(S.open_(str(corpus["cmyk"])), width=200, height=200, fit="pad", color="red")
    assert near(out.convert("RGB").getpixel((0, 0)), (255, 0, 0))


def test_unknown_colour_is_a_clear_error():
    with pytest.raises(ImageError, match="unknown colour 'reddish'"):
        pad_to(Image.new("RGB", (4, 4)), width=8, color="reddish")


# ---------------------------------------------------------------- overlay

def test_overlay_at_a_corner_with_margin_and_opacity(mark):
    base = Image.new("RGB", (100, 50), "white")
    out = overlay(base, mark, position="bottom-right", margin=5)
    assert out.getpixel((76, 36)) == (255, 0, 0)  # the opaque half of the mark
    assert near(out.getpixel((90, 40)), (255, 127, 127))  # its half-transparent half
    assert out.getpixel((5, 5)) == (255, 255, 255) and out.getpixel((96, 46)) == (255, 255, 255)
    assert base.getpixel((76, 36)) == (255, 255, 255)  # the given image is not drawn on
    faded = overlay(base, mark, position="top-left", opacity=0.5)
    assert near(faded.getpixel((2, 2)), (255, 127, 127))


def test_overlay_scale_is_a_share_of_the_width(mark):
    out = overlay(Image.new("RGB", (200, 100), "white"), mark, position="center", scale=0.5)
    box = ImageChops.difference(out, Image.new("RGB", (200, 100), "white")).getbbox()
    assert box == (50, 25, 150, 75)  # 100 wide (half of 200), 50 high (aspect kept)


def test_overlay_bigger_than_the_image_is_cut_off(mark):
    out = overlay(Image.new("RGB", (8, 4), "white"), mark, position="top-left")
    assert out.size == (8, 4) and out.getpixel((7, 3)) == (255, 0, 0)


def test_overlay_odd_images(corpus, mark):
    cmyk = overlay(S.open_(str(corpus["cmyk"])), mark, position="top-left")
    assert cmyk.mode == "CMYK" and near(cmyk.convert("RGB").getpixel((2, 2)), (255, 0, 0))
    deep, said = notices(overlay, S.open_(str(corpus["gray16"])), mark)
    assert deep.mode == "L" and said == ["image.overlay: 16-bit image drawn on as 8-bit"]
    pal = overlay(S.open_(str(corpus["palette_alpha"])), mark, position="top-left")
    assert pal.mode == "RGBA" and pal.getpixel((2, 2)) == (255, 0, 0, 255)
    rgba = overlay(S.open_(str(corpus["rgba"])), mark, position="top-left")
    assert rgba.getpixel((2, 0))[3] == 255  # over a see-through corner: the mark is solid
    upright = overlay(S.auto_orient(S.open_(str(corpus["exif_rotated"]))), mark,
                      position="bottom-left")
    assert upright.size == (40, 80) and upright.getpixel((2, 78)) == (255, 0, 0)


def test_overlay_file_gone_at_run_time_fails_the_item(tmp_path):
    with pytest.raises(ImageError, match="overlay image .* not found"):
        overlay(Image.new("RGB", (8, 8)), str(tmp_path / "gone.png"))


# ---------------------------------------------------------------- text

def test_text_is_drawn_where_asked_in_the_colour_asked():
    black = Image.new("RGB", (200, 100), "black")
    out = text(black, "Hello", position="top-left", size=20, color="red", margin=4)
    box = ImageChops.difference(out, black).getbbox()
    assert box is not None and box[0] >= 4 and box[1] >= 4 and box[2] < 100 and box[3] < 40
    assert 10 <= box[3] - box[1] <= 24  # about the letter height asked for
    reds = [c for _, c in out.getcolors(200 * 100) if c != (0, 0, 0)]
    assert max(r for r, g, b in reds) > 200 and max(g for r, g, b in reds) < 60
    assert black.getbbox() is None  # the given image is not drawn on


def test_text_size_default_scales_with_the_image_and_bottom_is_centred():
    small = text(Image.new("L", (200, 200)), "Hello")  # size 10 (the least)
    large = text(Image.new("L", (1200, 1200)), "Hello")  # size 60: a twentieth of 1200
    sb, lb = small.getbbox(), large.getbbox()
    assert (lb[3] - lb[1]) > 4 * (sb[3] - sb[1])
    assert abs((sb[0] + sb[2]) / 2 - 100) < 6 and sb[3] > 180  # bottom, centred


def test_text_outline_and_several_lines():
    grey = Image.new("RGB", (200, 120), (128, 128, 128))
    out = text(grey, "one\ntwo", size=20, color="white", outline="black", position="center")
    colours = {c for _, c in out.getcolors(200 * 120)}
    assert (255, 255, 255) in colours and (0, 0, 0) in colours
    box = ImageChops.difference(out, grey).getbbox()
    assert box[3] - box[1] > 35  # two lines


def test_text_odd_images(corpus):
    cmyk = text(S.open_(str(corpus["cmyk"])), "CMYK", color="red", position="center")
    assert cmyk.mode == "CMYK"
    deep, said = notices(text, S.open_(str(corpus["gray16"])), "16")
    assert deep.mode == "L" and said == ["image.text: 16-bit image drawn on as 8-bit"]
    assert text(S.open_(str(corpus["palette_alpha"])), "P").mode == "RGBA"
    upright = text(S.auto_orient(S.open_(str(corpus["exif_rotated"]))), "up")
    assert upright.size == (40, 80)


# ---------------------------------------------------------------- filter

@pytest.mark.parametrize("args, kept", [
    ({"orientation": "landscape"}, {"good_landscape", "good_wide", "cmyk", "gray16"}),
    ({"orientation": "portrait"}, {"good_portrait", "exif_rotated"}),
    ({"orientation": "square"}, set()),
    ({"min_width": 360, "max_width": 640}, {"good_landscape", "good_portrait"}),
    ({"min_height": 480}, {"good_landscape", "good_portrait"}),
    ({"max_height": 48}, {"gray16", "palette_alpha", "rgba"}),
    ({"min_height": 80, "max_width": 40}, {"exif_rotated"}),  # as shown: 40x80
])
def test_filter_by_size_and_orientation_from_the_header(corpus, args, kept):
    keys = ["good_landscape", "good_portrait", "good_wide", "cmyk", "gray16", "exif_rotated",
            "palette_alpha", "rgba"]
    got = set()
    for key in keys:
        img = S.open_(str(corpus[key]))
        out = filter_(img, **{"orientation": None, **args})
        if key in ("palette_alpha", "rgba") and args.get("orientation") == "landscape":
            assert out is img  # 64x48: landscape too
            continue
        if out is not None:
            assert out is img and img.tile  # the pixels were never decoded
            got.add(key)
    assert got == kept


def test_filter_square_and_impossible_bounds():
    assert filter_(Image.new("RGB", (5, 5)), orientation="square") is not None
    with pytest.raises(ImageError, match="a minimum of 10 is above the maximum of 5"):
        filter_(Image.new("RGB", (5, 5)), min_width=10, max_width=5)
