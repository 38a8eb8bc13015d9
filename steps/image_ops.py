"""Pillow helpers behind the image steps: safe opening, shrink-on-load, step helpers.

Saving by format is :mod:`steps.image_save`. Pillow is imported inside the
functions: ``flow validate`` imports the step modules to read their schemas and
must not pay for Pillow.
"""

from __future__ import annotations

import math
import os
import re
import sys
import warnings
from typing import TYPE_CHECKING, Any

from steps.registry import StepNotice

if TYPE_CHECKING:
    from PIL.Image import Image

SPILL_SUFFIX = ".flowimg"
MULTI_FRAME = "multi-frame file: first frame used"
_DRAFTABLE = ("JPEG", "MPO")  # MPO: camera JPEGs with an embedded preview
WIDE = {"I;16", "I;16B", "I;16L", "I;16N", "I"}  # more than 8 bits a pixel
_MAGIC = ((b"\xff\xd8", "JPEG"), (b"\x89PNG", "PNG"), (b"GIF8", "GIF"), (b"II*\x00", "TIFF"),
          (b"MM\x00*", "TIFF"), (b"BM", "BMP"), (b"RIFF", "WEBP"))


class ImageError(ValueError):
    """A bad image file, or an image a step cannot take. The message is one line."""


# ---------------------------------------------------------------- opening

def open_path(path: str | os.PathLike[str]) -> Image:
    """Open an image file lazily (header only), refusing what cannot be trusted.

    Decompression bombs (over ``Image.MAX_IMAGE_PIXELS``, where Pillow itself only
    warns, up to 2x) are refused before any pixel is decoded. Multi-frame files give
    their first frame and a :class:`StepNotice`. Spilled images (``spill``) load.
    """
    from PIL import Image, UnidentifiedImageError

    p = os.fspath(path)
    if p.endswith(SPILL_SUFFIX):
        from steps.image_spill import read_spill

        return read_spill(p)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(p)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(_bomb_reason(str(exc))) from None
    except FileNotFoundError:
        raise ImageError("file not found") from None
    except IsADirectoryError:
        raise ImageError("a folder, not an image file") from None
    except PermissionError:
        raise ImageError("permission denied") from None
    except UnidentifiedImageError:
        raise ImageError(_unidentified(p)) from None
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow plugins raise many kinds on bad headers
        raise ImageError(f"broken {_guess(p) or 'image'} header: {one_line(exc)}") from None
    _check_header(img)
    if img.format not in _DRAFTABLE and getattr(img, "is_animated", False):
        warnings.warn(StepNotice(MULTI_FRAME), stacklevel=2)
    return img


def _check_header(img: Image) -> None:
    from PIL import Image as PILImage

    w, h = img.size
    if w <= 0 or h <= 0:
        raise ImageError(f"broken header: {w}x{h} pixels")
    limit = PILImage.MAX_IMAGE_PIXELS
    # Belt and braces: the warning filter above is process-global state a thread
    # (a Dask worker) could race on; this check holds regardless.
    if limit and w * h > limit:
        raise ImageError(_bomb_reason(f"({w * h} pixels)"))


def _bomb_reason(message: str) -> str:
    from PIL import Image

    found = re.search(r"\((\d+) pixels\)", message)
    size = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
    return (f"refused as a possible decompression bomb: {size}, over Pillow's limit of "
            f"{Image.MAX_IMAGE_PIXELS:,}")


def _head(path: str, n: int = 64) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError:
        return b""


def _guess(path: str) -> str | None:
    head = _head(path, 8)
    return next((fmt for magic, fmt in _MAGIC if head.startswith(magic)), None)


def _unidentified(path: str) -> str:
    head = _head(path)
    if not head:
        return "empty file"
    fmt = _guess(path)
    if fmt:
        return f"broken {fmt} header: cannot identify the image"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text and all(c.isprintable() or c.isspace() for c in text):
        return "a text file, not an image"
    return "not an image, or a format Pillow cannot read"


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (at most 200 characters), for a reason."""
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__


def loaded(img: Image) -> Image:
    """``img`` with its pixels decoded; a truncated or corrupt file raises ImageError.

    ``ImageFile.LOAD_TRUNCATED_IMAGES`` stays False, so a file that ends early fails
    here instead of being padded with grey. Cheap when already loaded.
    """
    if getattr(img, "tile", None):
        try:
            img.load()
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - decoders raise OSError, SyntaxError...
            _release(img)
            msg = one_line(exc)
            if "truncated" in msg.lower():
                raise ImageError("truncated image data: the file ends before the "
                                 "picture does") from None
            raise ImageError(f"corrupt image data: {msg}") from None
        if getattr(img, "_fp", None) is not None:
            _release(img)  # multi-frame files keep theirs open for seeking; we never seek
    return img


def _release(img: Image) -> None:
    """Close the file behind ``img``, keeping its decoded pixels (the ``with`` exit)."""
    try:
        img.__exit__(None, None, None)
    except Exception:  # noqa: BLE001 - closing is a courtesy
        pass


def smooth(img: Image) -> Image:
    """An equivalent image in a mode resampling and filters work on (P, PA, 1 are not)."""
    mode = img.mode
    if mode == "P":
        return img.convert("RGBA" if img.has_transparency_data else "RGB")
    if mode == "PA":
        return img.convert("RGBA")
    if mode == "1":
        return img.convert("L")
    return img


def to_8bit(img: Image) -> Image:
    """A 16-bit grey image as 8-bit L, tones scaled (Pillow's convert would clip at 255).

    Mode I holding only 0-255 (8-bit data in a 32-bit image) is converted as it is.
    """
    if img.mode == "I" and img.getextrema()[1] <= 255:
        return img.convert("L")
    return img.point(lambda v: v / 256).convert("L")


# ---------------------------------------------------------------- shrink-on-load

def contain_size(w: int, h: int, bw: int, bh: int) -> tuple[int, int]:
    """The largest size of aspect w:h within bw x bh (as ``ImageOps.contain``)."""
    if w * bh > bw * h:
        return bw, max(1, round(h * bw / w))
    if w * bh < bw * h:
        return max(1, round(w * bh / h)), bh
    return bw, bh


def thumbnail_size(w: int, h: int, bw: int, bh: int) -> tuple[int, int] | None:
    """Pillow's ``Image.thumbnail`` size for a ``bw`` x ``bh`` box; None if it fits."""
    if bw >= w and bh >= h:
        return None
    aspect = w / h

    def nearest(number: float, key: Any) -> int:
        return max(min(math.floor(number), math.ceil(number), key=key), 1)

    if bw / bh >= aspect:
        return nearest(bh * aspect, lambda n: abs(aspect - n / bh)), bh
    return bw, nearest(bw / aspect, lambda n: 0 if n == 0 else abs(aspect - bw / n))


def resized(img: Image, size: tuple[int, int], resample: int,
            box: tuple[float, float, float, float] | None = None) -> Image:
    """``img`` (or its ``box``, in its own pixel coordinates) resampled to ``size``.

    An unloaded JPEG that shrinks is decoded at a reduced DCT scale first (``draft``):
    the smallest of 1/2, 1/4, 1/8 that still leaves at least ``size`` pixels of the
    region. The result has exactly ``size`` and, to the eye, the same pixels; the
    work saved is most of the decode, which dominates a thumbnail's cost.
    """
    w, h = img.size
    bx0, by0, bx1, by1 = box or (0, 0, w, h)
    bw, bh = bx1 - bx0, by1 - by0
    if img.format in _DRAFTABLE and img.tile and size[0] * 2 <= bw and size[1] * 2 <= bh:
        want = (math.ceil(size[0] * w / bw), math.ceil(size[1] * h / bh))
        res = img.draft(None, want)
        if res is not None:
            f = res[1][2] / w  # drafted pixels per original pixel: exactly 1/scale
            box = (bx0 * f, by0 * f, bx1 * f, by1 * f)
    img = smooth(loaded(img))
    if img.size == size and box in (None, (0, 0, *size)):
        return img
    return img.resize(size, resample, box=box)


# ---------------------------------------------------------------- step helpers

def is_image(value: Any) -> bool:
    """Whether ``value`` is a Pillow image (without importing Pillow to find out)."""
    pil = sys.modules.get("PIL.Image")
    return pil is not None and isinstance(value, pil.Image)


def as_image(value: Any) -> Image:
    """A Pillow image from an image or a path (opened lazily); else a clear error."""
    if is_image(value):
        return value
    if isinstance(value, (str, os.PathLike)):
        return open_path(value)
    raise ImageError(f"expected an image or an image path, got {type(value).__name__}")


def cover_box(w: int, h: int, bw: int, bh: int) -> tuple[float, float, float, float]:
    """The centred region of a w x h image with the aspect of bw x bh."""
    if w * bh > bw * h:  # wider than the box: crop the sides
        cw = h * bw / bh
        return ((w - cw) / 2, 0, (w + cw) / 2, h)
    ch = w * bh / bw
    return (0, (h - ch) / 2, w, (h + ch) / 2)


def pad(img: Image, size: tuple[int, int], color: str | None) -> Image:
    from PIL import Image as PILImage

    mode = img.mode
    if color is None:
        fill: Any = 0  # black, or fully transparent where there is alpha
    else:
        from PIL import ImageColor

        try:
            fill = ImageColor.getcolor(color, mode)
        except ValueError:
            raise ValueError(f"unknown colour {color!r}") from None
    canvas = PILImage.new(mode, size, fill)
    canvas.paste(img, ((size[0] - img.width) // 2, (size[1] - img.height) // 2))
    canvas.info = dict(img.info)
    return canvas


def filterable(value: Any, name: str) -> Image:
    img = smooth(loaded(as_image(value)))
    if img.mode not in ("L", "LA", "RGB", "RGBA", "RGBX", "CMYK"):
        raise ImageError(f"{name} cannot work on mode {img.mode}; use image.convert first")
    return img


def brightness(img: Image) -> float:
    """Mean of the L (luma) channel, 0-255.

    An unloaded colour JPEG decodes its luma plane only (``draft('L')``): the same
    ITU-R 601 weights as ``convert('L')``, about twice as fast, equal to within
    rounding (well under 0.1 on photos).
    """
    from PIL import ImageStat

    if img.format in ("JPEG", "MPO") and img.tile and img.mode == "RGB":
        img.draft("L", None)
    img = smooth(loaded(img))
    if img.mode in WIDE:
        img = to_8bit(img)  # 16-bit tones scaled to 0-255, like every other image
    elif img.mode == "F":
        raise ImageError("brightness of a float image (mode F) has no 0-255 scale; "
                         "use image.convert first")
    if img.mode != "L":
        img = img.convert("LA" if "A" in img.mode else "L").getchannel(0)
    return float(ImageStat.Stat(img).mean[0])


def rgb_over(img: Image, color: str) -> Image:
    """``img`` as RGB, any transparency laid over the background colour."""
    from PIL import Image as PILImage

    if img.mode in WIDE:
        img = to_8bit(img)
    if "A" in img.mode or img.mode == "RGBa":
        back = PILImage.new("RGBA", img.size, color)
        return PILImage.alpha_composite(back, img.convert("RGBA")).convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")
