"""Pillow helpers behind the image steps: shrink-on-load and step helpers.

Opening is :mod:`steps.image_open`, saving by format :mod:`steps.image_save`.
Pillow is imported inside the functions: ``flow validate`` imports the step
modules to read their schemas and must not pay for Pillow.
"""

from __future__ import annotations

import math
import os
import sys
from typing import TYPE_CHECKING, Any

from steps.image_args import color_in, place
from steps.image_open import DRAFTABLE, ImageError, loaded, open_path
from steps.image_spill import SPILL_SUFFIX, read_spill

if TYPE_CHECKING:
    from PIL.Image import Image

WIDE = {"I;16", "I;16B", "I;16L", "I;16N", "I"}  # more than 8 bits a pixel


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
    if img.format in DRAFTABLE and img.tile and size[0] * 2 <= bw and size[1] * 2 <= bh:
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
        path = os.fspath(value)
        # An image another stage's worker spilled: flow's own lossless format.
        return read_spill(path) if path.endswith(SPILL_SUFFIX) else open_path(path)
    raise ImageError(f"expected an image or an image path, got {type(value).__name__}")


def cover_box(w: int, h: int, bw: int, bh: int) -> tuple[float, float, float, float]:
    """The centred region of a w x h image with the aspect of bw x bh."""
    if w * bh > bw * h:  # wider than the box: crop the sides
        cw = h * bw / bh
        return ((w - cw) / 2, 0, (w + cw) / 2, h)
    ch = w * bh / bw
    return (0, (h - ch) / 2, w, (h + ch) / 2)


def pad(img: Image, size: tuple[int, int], color: str | None,
        position: str = "center") -> Image:
    """``img`` on a ``size`` canvas of ``color`` (None: black, or transparent with alpha)."""
    from PIL import Image as PILImage

    canvas = PILImage.new(img.mode, size, color_in(color, img.mode))
    canvas.paste(img, place(size, img.size, position))
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
