"""Colour profiles: kept through every step and format, converted to sRGB as LittleCMS does.

The photos are tagged with Adobe RGB and ProPhoto RGB profiles built from the spaces'
primaries (tests/photo_kit.py), checked here against plain matrix arithmetic.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageCms, features

from steps import image as S
from steps import image_color, image_compose, image_filter, image_text
from steps.image_meta import profile_space
from steps.registry import StepNotice, load_registry
from tests.make_corpus import make_corpus
from tests.photo_kit import (
    ADOBE_RGB,
    MODES,
    PATCH,
    PROPHOTO_RGB,
    camera_jpeg,
    convert_by_hand,
    matrix_profile,
    write_workflow,
)

ADOBE = matrix_profile(ADOBE_RGB)
AVIF = pytest.mark.skipif(not features.check("avif"),
                          reason="this Pillow was built without AVIF (libavif)")


def srgb_by_lcms(path: Path, icc: bytes) -> Image.Image:
    """The photo at ``path`` converted from ``icc`` to sRGB by LittleCMS directly."""
    with Image.open(path) as src:
        return ImageCms.profileToProfile(src, ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                                         ImageCms.createProfile("sRGB"), outputMode="RGB")


def description(icc: bytes) -> str:
    return ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile.profile_description


@pytest.mark.parametrize("space", [ADOBE_RGB, PROPHOTO_RGB], ids=["adobe", "prophoto"])
def test_the_hand_built_profiles_are_the_spaces_they_claim(space):
    profile = ImageCms.ImageCmsProfile(io.BytesIO(matrix_profile(space)))
    srgb = ImageCms.createProfile("sRGB")
    for rgb in [(60, 160, 90), (200, 40, 30), (128, 128, 128), (10, 20, 240)]:
        got = ImageCms.profileToProfile(Image.new("RGB", (1, 1), rgb), profile, srgb,
                                        outputMode="RGB").getpixel((0, 0))
        assert got == pytest.approx(convert_by_hand(rgb, space), abs=1.5), rgb


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("space", [ADOBE_RGB, PROPHOTO_RGB], ids=["adobe", "prophoto"])
def test_to_srgb_converts_a_tagged_photo_as_littlecms_does(tmp_path, flow, space, mode):
    icc = matrix_profile(space)
    src = camera_jpeg(tmp_path / "photos" / "tagged.jpg", (160, 120), orientation=1, icc=icc)
    write_workflow(tmp_path, "photos/*.jpg", """\
  - id: web
    from: photos
    uses: image.to_srgb
  - id: save
    uses: image.save
    with: {to: "web/{stem}.png"}
""", mode)
    res = flow("run", "wf.yaml", "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    expected = srgb_by_lcms(src, icc)
    at = (150, 110)  # inside the one-colour patch
    with Image.open(tmp_path / "web" / "tagged.png") as out:
        assert out.mode == "RGB"
        assert out.getpixel(at) == expected.getpixel(at)
        assert ImageChops.difference(out, expected).getbbox() is None  # every pixel
        assert "sRGB" in description(out.info["icc_profile"])
    with Image.open(src) as before:  # the JPEG keeps the patch's colour closely
        assert before.getpixel(at) == pytest.approx(PATCH, abs=3)
    # ... and the conversion moves it as plain arithmetic says it must (well over 8 levels)
    assert expected.getpixel(at) == pytest.approx(convert_by_hand(before.getpixel(at), space),
                                                  abs=1.5)
    assert max(abs(a - b) for a, b in zip(PATCH, expected.getpixel(at), strict=True)) > 25


@pytest.mark.parametrize("mode", MODES)
def test_the_profile_is_written_in_every_format(tmp_path, flow, mode):
    camera_jpeg(tmp_path / "photos" / "tagged.jpg", (160, 120), orientation=1, icc=ADOBE)
    formats = ["jpg", "png", "webp", "tiff"] + (["avif"] if features.check("avif") else [])
    saves = "".join(f"""\
  - id: save-{ext}
    from: fit
    uses: image.save
    with: {{to: "out/{{stem}}.{ext}"}}
""" for ext in formats)
    write_workflow(tmp_path, "photos/*.jpg", """\
  - id: fit
    from: photos
    uses: image.resize
    with: {width: 80}
""" + saves, mode)
    res = flow("run", "wf.yaml", "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    for ext in formats:
        with Image.open(tmp_path / "out" / f"tagged.{ext}") as out:
            assert out.size == (80, 60)
            assert out.info.get("icc_profile") == ADOBE, ext


@AVIF
def test_the_profile_is_written_in_avif(tmp_path):
    img = S.thumbnail(S.open_(camera_jpeg(tmp_path / "t.jpg", icc=ADOBE)), size=64)
    with Image.open(S.save(img, to=str(tmp_path / "t.avif"))) as out:
        assert out.info.get("icc_profile") == ADOBE


def _mark(tmp_path: Path) -> str:
    path = tmp_path / "mark.png"
    Image.new("RGBA", (20, 10), (255, 255, 255, 128)).save(path)
    return str(path)


# Every image -> image step, called on an Adobe RGB photo: the profile must come through.
KEEPERS = {
    "image.auto_orient": {}, "image.resize": {"width": 50}, "image.thumbnail": {"size": 40},
    "image.crop": {"box": [0, 0, 20, 20]}, "image.rotate": {"degrees": 30},
    "image.flip": {}, "image.blur": {}, "image.sharpen": {}, "image.autocontrast": {},
    "image.pad": {"width": 200, "height": 200}, "image.flatten": {},
    "image.overlay": {"image": None}, "image.text": {"text": "hi"}, "image.filter":
    {"min_width": 10}, "image.open": {},
}
# Steps that change the colour space on purpose (their profile is replaced or dropped).
CHANGERS = {"image.to_srgb", "image.grayscale", "image.convert"}


def test_the_list_of_steps_that_keep_the_profile_is_complete():
    image_steps = {name for name, sd in load_registry().items()
                   if sd.kind == "map" and sd.gives == "image"}
    assert image_steps == set(KEEPERS) | CHANGERS


@pytest.mark.parametrize("name", sorted(KEEPERS))
@pytest.mark.parametrize("alpha", [False, True], ids=["rgb", "rgba"])
def test_every_step_keeps_the_profile(tmp_path, name, alpha):
    args = dict(KEEPERS[name])
    if "image" in args:
        args["image"] = _mark(tmp_path)
    src = camera_jpeg(tmp_path / "p.jpg", (160, 80), orientation=6, icc=ADOBE)
    img = S.open_(str(src))
    if alpha:
        rgba = img.convert("RGBA")
        rgba.putalpha(200)
        img = rgba
    assert img.info["icc_profile"] == ADOBE
    out = load_registry()[name].fn(img, **args)
    assert out.info.get("icc_profile") == ADOBE
    saved = S.save(out, to=str(tmp_path / "out.png"))
    with Image.open(saved) as back:
        assert back.info.get("icc_profile") == ADOBE


def test_a_grey_image_does_not_carry_an_rgb_profile_into_its_file(tmp_path):
    src = camera_jpeg(tmp_path / "p.jpg", orientation=1, icc=ADOBE)
    grey = S.grayscale(S.open_(str(src)))
    for ext in ("png", "jpg", "tiff"):
        with Image.open(S.save(grey, to=str(tmp_path / f"grey.{ext}"))) as back:
            assert back.mode == "L"
            assert "icc_profile" not in back.info or back.info["icc_profile"] is None, ext
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        out = image_color.to_srgb(grey)
    assert out.mode == "L" and "icc_profile" not in out.info
    assert any("RGB colour profile on a L image was dropped" in str(w.message)
               for w in got if issubclass(w.category, StepNotice))


def test_to_srgb_keeps_transparency_and_metadata(tmp_path):
    src = camera_jpeg(tmp_path / "p.jpg", (60, 40), orientation=6, icc=ADOBE)
    rgba = Image.open(src).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((60, 40)))
    rgba.info.update(Image.open(src).info)
    out = image_color.to_srgb(rgba)
    assert out.mode == "RGBA"
    assert out.getchannel("A").tobytes() == rgba.getchannel("A").tobytes()
    expected = srgb_by_lcms(src, ADOBE)
    assert out.convert("RGB").getpixel((30, 20)) == expected.getpixel((30, 20))
    assert Image.open(S.save(out, to=str(tmp_path / "o.png"))).getexif()[0x0112] == 6


def test_to_srgb_without_a_profile_leaves_the_image_alone(tmp_path):
    corpus = make_corpus(tmp_path / "corpus")
    plain = S.open_(str(corpus["good_wide"]))
    assert image_color.to_srgb(plain) is plain and plain.tile  # untouched, still lazy
    cmyk = image_color.to_srgb(S.open_(str(corpus["cmyk"])))
    assert cmyk.mode == "RGB"
    deep = S.open_(str(corpus["gray16"]))
    assert image_color.to_srgb(deep) is deep
    pal = image_color.to_srgb(S.open_(str(corpus["palette_alpha"])))
    assert pal.mode == "P"  # no profile: nothing to convert


def test_to_srgb_on_odd_tagged_images(tmp_path):
    corpus = make_corpus(tmp_path / "corpus")
    pal = Image.open(corpus["palette_alpha"])
    pal.info["icc_profile"] = ADOBE
    out = image_color.to_srgb(pal)  # palette with transparency: RGBA, alpha kept
    assert out.mode == "RGBA"
    assert out.getchannel("A").getextrema()[0] == 0
    assert profile_space(out.info["icc_profile"]) == "RGB"
    turned = Image.open(camera_jpeg(tmp_path / "r.jpg", icc=ADOBE))  # EXIF-rotated
    upright = S.auto_orient(turned)
    assert image_color.to_srgb(upright).size == (80, 160)
    bare = image_color.to_srgb(S.open_(str(camera_jpeg(tmp_path / "b.jpg", icc=ADOBE))),
                               embed=False)
    assert "icc_profile" not in bare.info


def test_new_step_modules_do_not_load_pillow_on_import():
    import subprocess
    import sys

    from tests.conftest import REPO

    code = ("import sys, steps.image_color, steps.image_compose, steps.image_text, "
            "steps.image_filter, steps.image_meta; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'PIL'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"
    assert image_compose and image_filter and image_text  # imported here too: registered
