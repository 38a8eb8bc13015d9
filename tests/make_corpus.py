"""An adversarial image corpus: good photos and every kind of bad file a run meets.

Importable (``make_corpus(folder)``) and runnable (``python tests/make_corpus.py DIR``).
Everything is made from nothing in well under a second: no downloads, no big files.
The decompression bombs are real (their pixel data inflates to the size their header
declares) yet tiny on disk, because a single-colour 1-bit image compresses ~1000:1.
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from pathlib import Path

# Sizes kept small so a test suite can rebuild the corpus per test cheaply.
GOOD_SIZES = {"good_landscape.jpg": (640, 480), "good_portrait.jpg": (360, 540),
              "good_wide.jpg": (900, 300)}


def photo_like(size: tuple[int, int], seed: int = 0, mode: str = "RGB"):
    """A photo-like image: smooth gradients in each channel plus fine noise.

    Pure noise compresses badly and pure gradients too well; the mix gives JPEG
    sizes per pixel close to real photos, so shrink-on-load behaves realistically.
    """
    from PIL import Image, ImageChops

    w, h = size
    grad = Image.linear_gradient("L").resize((w, h))
    radial = Image.radial_gradient("L").resize((w, h))
    noise = Image.effect_noise((w, h), 24 + 6 * seed)
    bands = [
        ImageChops.add(grad, noise, scale=1.6, offset=-40),
        ImageChops.blend(radial, grad.transpose(Image.Transpose.FLIP_LEFT_RIGHT), 0.4),
        ImageChops.add(radial.rotate(90 + 30 * seed), noise, scale=2.0),
    ]
    img = Image.merge("RGB", bands)
    return img if mode == "RGB" else img.convert(mode)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def bomb_png(width: int, height: int) -> bytes:
    """A valid 1-bit grayscale PNG of ``width`` x ``height`` black pixels, a few KB on disk."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    parts = [comp.compress(row) for _ in range(height)]
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", b"".join(parts)) + _png_chunk(b"IEND", b""))


def _jpeg_bytes(img, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", **params)
    return buf.getvalue()


def make_corpus(folder: str | Path) -> dict[str, Path]:
    """Write the corpus into ``folder`` (created); return name -> path.

    Names: ``good_*`` (3 JPEGs), ``truncated``, ``empty``, ``text``, ``broken_header``,
    ``bomb`` (> 2x Pillow's limit: refused by Pillow itself), ``bomb_warn`` (between 1x
    and 2x: Pillow only warns, flow must refuse), ``cmyk``, ``gray16``, ``palette_alpha``,
    ``rgba``, ``rgba_opaque``, ``animated_gif``, ``exif_rotated`` (orientation 6:
    stored 80x40, shown 40x80, red block at the stored top-left).
    """
    from PIL import Image

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}

    def put(key: str, name: str, data: bytes) -> None:
        p = out / name
        p.write_bytes(data)
        paths[key] = p

    for i, (name, size) in enumerate(GOOD_SIZES.items()):
        put(name.removesuffix(".jpg"), name, _jpeg_bytes(photo_like(size, i), quality=90))

    good = _jpeg_bytes(photo_like((400, 300), 5), quality=90)
    put("truncated", "truncated.jpg", good[: len(good) // 2])
    put("empty", "empty.jpg", b"")
    put("text", "text.jpg", b"this is a text file, not a picture\n" * 3)
    # A JPEG start-of-image marker followed by rubbish: looks like a JPEG, is not one.
    put("broken_header", "broken_header.jpg", b"\xff\xd8\xff\xe0" + b"\x13\x37" * 40)

    limit = Image.MAX_IMAGE_PIXELS or 89_478_485
    side = int((2.2 * limit) ** 0.5) + 1  # > 2x the limit: DecompressionBombError
    put("bomb", "bomb.png", bomb_png(side, side))
    side = int((1.3 * limit) ** 0.5) + 1  # between 1x and 2x: only a warning in Pillow
    put("bomb_warn", "bomb_warn.png", bomb_png(side, side))

    put("cmyk", "cmyk.jpg", _jpeg_bytes(photo_like((120, 90), 1, "CMYK"), quality=90))

    g16 = Image.linear_gradient("L").resize((64, 48)).convert("I")
    g16 = g16.point(lambda v: v * 257).convert("I;16")  # values up to ~65000: truly 16-bit
    buf = io.BytesIO()
    g16.save(buf, "PNG")
    put("gray16", "gray16.png", buf.getvalue())

    pal = photo_like((64, 48), 2).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal.info["transparency"] = 0
    buf = io.BytesIO()
    pal.save(buf, "PNG", transparency=0)
    put("palette_alpha", "palette_alpha.png", buf.getvalue())

    rgba = photo_like((64, 48), 3).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((64, 48)))
    buf = io.BytesIO()
    rgba.save(buf, "PNG")
    put("rgba", "rgba.png", buf.getvalue())
    buf = io.BytesIO()
    photo_like((64, 48), 3).convert("RGBA").save(buf, "PNG")
    put("rgba_opaque", "rgba_opaque.png", buf.getvalue())

    frames = [Image.new("RGB", (40, 30), c) for c in ("red", "green", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    put("animated_gif", "animated.gif", buf.getvalue())

    # Stored landscape 80x40 with a red block top-left; orientation 6 means "rotate
    # 90 degrees clockwise to display", so the shown image is 40x80, red at top-right.
    rot = Image.new("RGB", (80, 40), "white")
    rot.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    put("exif_rotated", "exif_rotated.jpg", _jpeg_bytes(rot, quality=95, exif=exif.tobytes()))
    return paths


def main(argv: list[str]) -> int:
    """``python tests/make_corpus.py DIR``: write the corpus into DIR, list what was made."""
    if len(argv) != 1:
        print("usage: python tests/make_corpus.py DIR", file=sys.stderr)
        return 2
    for key, path in make_corpus(argv[0]).items():
        print(f"{key:14s} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
