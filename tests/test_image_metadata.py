"""The metadata policy of image.save: keep (default), minimal, strip, on camera JPEGs.

The photos carry what a camera writes (model, date taken, GPS, copyright, pixel sizes,
orientation 6: stored 160x80, shown 80x160) plus XMP, and an Adobe RGB profile.
"""

from __future__ import annotations

import pytest
from PIL import Image, features

from steps import image as S
from tests.photo_kit import (
    ADOBE_RGB,
    CAMERA,
    COPYRIGHT,
    DATE_TAKEN,
    EXIF_IFD,
    GPS_IFD,
    MODEL,
    MODES,
    ORIENTATION,
    PIXEL_X,
    PIXEL_Y,
    XMP,
    camera_jpeg,
    matrix_profile,
    write_workflow,
)

ADOBE = matrix_profile(ADOBE_RGB)
FORMATS = ["jpg", "png", "webp", "tiff"] + (["avif"] if features.check("avif") else [])


def meta(path) -> dict:
    """What a viewer finds in the file: the EXIF tags that matter, XMP, the profile, size."""
    with Image.open(path) as im:
        exif = im.getexif()
        sub, gps = exif.get_ifd(EXIF_IFD), exif.get_ifd(GPS_IFD)
        return {"size": im.size, "model": exif.get(MODEL), "copyright": exif.get(COPYRIGHT),
                "orientation": exif.get(ORIENTATION), "taken": sub.get(DATE_TAKEN),
                "pixels": (sub.get(PIXEL_X), sub.get(PIXEL_Y)), "lat": gps.get(2),
                "xmp": bool(im.info.get("xmp")), "icc": im.info.get("icc_profile")}


def run(tmp_path, flow, steps: str, mode: str = "local"):
    camera_jpeg(tmp_path / "photos" / "cam.jpg", icc=ADOBE)
    write_workflow(tmp_path, "photos/*.jpg", steps, mode)
    res = flow("run", "wf.yaml", "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    return res


@pytest.mark.parametrize("mode", MODES)
def test_keep_is_the_default_and_auto_orient_keeps_the_camera_exif(tmp_path, flow, mode):
    run(tmp_path, flow, """\
  - id: orient
    from: photos
    uses: image.auto_orient
  - id: fit
    uses: image.resize
    with: {height: 40}
  - id: save
    uses: image.save
    with: {to: "out/{stem}.jpg"}
""", mode)
    got = meta(tmp_path / "out" / "cam.jpg")
    assert got["size"] == (20, 40)  # upright: shown portrait
    assert got["orientation"] == 1  # turned already: viewers must not turn it again
    assert (got["model"], got["copyright"], got["taken"]) == (
        CAMERA["model"], CAMERA["copyright"], CAMERA["taken"])
    assert got["lat"] == CAMERA["lat"]
    assert got["pixels"] == (20, 40)  # the written size, not the camera's
    assert got["xmp"] and got["icc"] == ADOBE


def test_keep_without_auto_orient_keeps_the_orientation(tmp_path, flow):
    run(tmp_path, flow, """\
  - id: fit
    from: photos
    uses: image.thumbnail
    with: {size: 64}
  - id: save
    uses: image.save
    with: {to: "out/{stem}.jpg", metadata: keep}
""")
    got = meta(tmp_path / "out" / "cam.jpg")
    assert got["size"] == (64, 32) and got["orientation"] == 6  # still shown turned
    assert got["model"] == CAMERA["model"] and got["lat"] == CAMERA["lat"]


@pytest.mark.parametrize("mode", MODES)
def test_strip_leaves_nothing_after_auto_orient(tmp_path, flow, mode):
    saves = "".join(f"""\
  - id: save-{ext}
    from: orient
    uses: image.save
    with: {{to: "out/{{stem}}.{ext}", metadata: strip}}
""" for ext in FORMATS)
    run(tmp_path, flow, """\
  - id: orient
    from: photos
    uses: image.auto_orient
""" + saves, mode)
    for ext in FORMATS:
        path = tmp_path / "out" / f"cam.{ext}"
        got = meta(path)
        assert got["size"] == (80, 160), ext
        assert (got["model"], got["copyright"], got["taken"], got["lat"]) == (None,) * 4, ext
        assert not got["xmp"] and not got["icc"], ext
        with Image.open(path) as im:
            tags = set(im.getexif())
            if ext == "tiff":  # a TIFF's own structure (size, strips) reads as EXIF too
                tags &= {MODEL, COPYRIGHT, ORIENTATION, EXIF_IFD, GPS_IFD, 700}
            assert not tags, ext
            assert "comment" not in im.info


def test_strip_and_minimal_keep_an_orientation_the_pixels_still_need(tmp_path, flow):
    run(tmp_path, flow, """\
  - id: strip
    from: photos
    uses: image.save
    with: {to: "strip/{stem}.jpg", metadata: strip}
  - id: minimal
    from: photos
    uses: image.save
    with: {to: "minimal/{stem}.jpg", metadata: minimal}
""")
    stripped = meta(tmp_path / "strip" / "cam.jpg")
    assert stripped["orientation"] == 6 and stripped["model"] is None and not stripped["icc"]
    minimal = meta(tmp_path / "minimal" / "cam.jpg")
    assert minimal["orientation"] == 6 and minimal["copyright"] == CAMERA["copyright"]


@pytest.mark.parametrize("ext", FORMATS)
def test_minimal_keeps_the_profile_and_the_copyright_only(tmp_path, ext):
    img = S.auto_orient(S.open_(str(camera_jpeg(tmp_path / "cam.jpg", icc=ADOBE))))
    got = meta(S.save(img, to=str(tmp_path / f"o.{ext}"), metadata="minimal"))
    assert got["icc"] == ADOBE and got["copyright"] == CAMERA["copyright"]
    assert (got["model"], got["taken"], got["lat"], got["xmp"]) == (None, None, None, False)
    assert got["orientation"] is None


@pytest.mark.parametrize("ext", FORMATS)
def test_keep_writes_exif_xmp_and_profile_in_every_format(tmp_path, ext):
    img = S.auto_orient(S.open_(str(camera_jpeg(tmp_path / "cam.jpg", icc=ADOBE))))
    got = meta(S.save(img, to=str(tmp_path / f"o.{ext}")))
    assert (got["model"], got["copyright"], got["taken"], got["lat"]) == (
        CAMERA["model"], CAMERA["copyright"], CAMERA["taken"], CAMERA["lat"])
    assert got["icc"] == ADOBE and got["xmp"]
    assert got["orientation"] in (1, None) and got["size"] == (80, 160)


def test_metadata_survives_the_hand_over_between_stages(tmp_path, flow):
    """A serial step, then the pool: the image crosses from one process to another."""
    run(tmp_path, flow, """\
  - id: orient
    from: photos
    uses: image.auto_orient
    parallel: {mode: serial}
  - id: save
    uses: image.save
    with: {to: "out/{stem}.png"}
""")
    got = meta(tmp_path / "out" / "cam.png")
    assert got["model"] == CAMERA["model"] and got["orientation"] == 1
    assert got["icc"] == ADOBE and got["xmp"]


def test_xmp_of_the_source_is_written_unchanged(tmp_path):
    img = S.open_(str(camera_jpeg(tmp_path / "cam.jpg", orientation=1)))
    with Image.open(S.save(img, to=str(tmp_path / "o.png"))) as back:
        assert back.info["xmp"] == XMP
