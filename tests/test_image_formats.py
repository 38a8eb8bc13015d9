"""Output formats and their options on image.save: AVIF, progressive, optimize, lossless,
PNG compression, each format's quality default, and transparency that JPEG cannot hold."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageChops, features

from steps import image as S
from tests.make_corpus import photo_like
from tests.photo_kit import MODES, corpus_photos, write_workflow

AVIF = pytest.mark.skipif(not features.check("avif"),
                          reason="this Pillow was built without AVIF (libavif)")


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    photo_like((320, 240), 3).save(path)
    return path


def same_pixels(a: Path | Image.Image, b: Path | Image.Image) -> bool:
    a = Image.open(a) if isinstance(a, Path) else a
    b = Image.open(b) if isinstance(b, Path) else b
    return ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None


@pytest.mark.parametrize("mode", MODES)
def test_format_options_through_flow_run(tmp_path, flow, photo, mode):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "p.png").write_bytes(photo.read_bytes())
    write_workflow(tmp_path, "photos/*.png", """\
  - id: progressive
    from: photos
    uses: image.save
    with: {to: "prog/{stem}.jpg", progressive: true}
  - id: lossless
    from: photos
    uses: image.save
    with: {to: "lossless/{stem}.webp", lossless: true}
  - id: fast
    from: photos
    uses: image.save
    with: {to: "fast/{stem}.png", compression: 0}
  - id: small
    from: photos
    uses: image.save
    with: {to: "small/{stem}.png", compression: 9, optimize: true}
""", mode)
    res = flow("run", "wf.yaml", "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    with Image.open(tmp_path / "prog" / "p.jpg") as im:
        assert im.info.get("progressive") or im.info.get("progression")
    assert same_pixels(tmp_path / "lossless" / "p.webp", photo)  # lossless: every pixel
    fast, small = tmp_path / "fast" / "p.png", tmp_path / "small" / "p.png"
    assert same_pixels(fast, small)
    assert small.stat().st_size < fast.stat().st_size * 0.8


def test_plain_jpeg_is_baseline_and_optimize_makes_it_smaller(tmp_path, photo):
    img = Image.open(photo)
    plain = Path(S.save(img, to=str(tmp_path / "plain.jpg")))
    with Image.open(plain) as im:
        assert not (im.info.get("progressive") or im.info.get("progression"))
    small = Path(S.save(img, to=str(tmp_path / "small.jpg"), optimize=True))
    assert small.stat().st_size < plain.stat().st_size
    assert same_pixels(small, plain)  # optimize changes the coding, not the pixels


@pytest.mark.parametrize("ext, default", [("jpg", 85), ("webp", 80),
                                          pytest.param("avif", 60, marks=AVIF)])
def test_each_format_has_its_own_quality_default(tmp_path, photo, ext, default):
    img = Image.open(photo)
    implicit = Path(S.save(img, to=str(tmp_path / f"implicit.{ext}"))).read_bytes()
    explicit = Path(S.save(img, to=str(tmp_path / f"q.{ext}"), quality=default)).read_bytes()
    other = Path(S.save(img, to=str(tmp_path / f"o.{ext}"), quality=default - 30)).read_bytes()
    assert implicit == explicit
    assert len(other) < len(implicit)


@AVIF
@pytest.mark.parametrize("mode", MODES)
def test_avif_is_written_with_alpha_and_by_format_name(tmp_path, flow, mode):
    corpus_photos(tmp_path, "rgba", "gray16", "palette_alpha", "cmyk", "good_wide")
    write_workflow(tmp_path, "photos/*", """\
  - id: pick
    from: photos
    uses: image.filter
    with: {min_width: 1}
  - id: avif
    uses: image.save
    with: {to: "out/{stem}.avif"}
  - id: named
    from: pick
    uses: image.save
    with: {to: "named/{stem}.img", format: avif}
""", mode)
    res = flow("run", "wf.yaml", "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    with Image.open(tmp_path / "out" / "rgba.avif") as im:
        assert im.format == "AVIF" and im.mode == "RGBA" and im.size == (64, 48)
        assert im.getchannel("A").getextrema()[0] < 20  # the transparent corner stayed
    for name in ("gray16", "palette_alpha", "cmyk", "good_wide"):
        with Image.open(tmp_path / "out" / f"{name}.avif") as im:
            assert im.format == "AVIF"
    with Image.open(tmp_path / "named" / "good_wide.img") as im:
        assert im.format == "AVIF"


@pytest.mark.parametrize("mode", MODES)
def test_rgba_to_jpeg_says_to_flatten_and_flatten_does_it(tmp_path, flow, mode):
    corpus_photos(tmp_path, "rgba", "palette_alpha")
    write_workflow(tmp_path, "photos/*.png", """\
  - id: direct
    from: photos
    uses: image.save
    with: {to: "direct/{stem}.jpg"}
  - id: flat
    from: photos
    uses: image.flatten
    with: {background: white}
  - id: save
    uses: image.save
    with: {to: "flat/{stem}.jpg"}
""", mode)
    res = flow("run", "wf.yaml", "--no-live")
    assert res.returncode == 1, res.stdout + res.stderr
    out = res.stdout + res.stderr
    assert "Traceback" not in out
    for name in ("rgba.png", "palette_alpha.png"):
        line = next(ln for ln in out.splitlines() if f"photos/{name} at direct:" in ln)
        assert "transparency" in line and "image.flatten" in line, line
    assert not (tmp_path / "direct").exists() or not list((tmp_path / "direct").iterdir())
    with Image.open(tmp_path / "flat" / "rgba.jpg") as im:
        assert im.mode == "RGB"
        # Top-left is fully transparent in the source: white there, not black.
        assert min(im.getpixel((0, 0))) > 240


@pytest.mark.parametrize("mode", MODES)
def test_an_option_the_format_has_no_use_for_is_said_once(tmp_path, flow, photo, mode):
    (tmp_path / "photos").mkdir()
    for i in range(3):
        (tmp_path / "photos" / f"p{i}.png").write_bytes(photo.read_bytes())
    write_workflow(tmp_path, "photos/*.png", """\
  - id: save
    from: photos
    uses: image.save
    with: {to: "out/{stem}.jpg", lossless: true, compression: 9}
""", mode)
    res = flow("run", "wf.yaml", "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    notices = res.stdout.split("\nnotices:", 1)[1]
    assert notices.count("'lossless' applies to webp only; ignored for jpeg") == 1, notices
    assert notices.count("'compression' applies to png only; ignored for jpeg") == 1
    assert len(list((tmp_path / "out").glob("*.jpg"))) == 3
