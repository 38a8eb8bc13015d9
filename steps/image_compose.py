"""Putting images together: ``image.flatten``, ``image.pad`` and ``image.overlay`` (a watermark).

Each keeps the colour profile and metadata of the image it works on, and never
draws into the image it was given (another branch may hold the same one): it
works on a copy. Pillow is imported inside the functions, as everywhere in ``steps/``.
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from steps.image_args import COLOR_ARG, MARGIN_ARG, SIZE, color_in, place, position_arg
from steps.image_meta import carry
from steps.image_open import ImageError, loaded, open_path
from steps.image_ops import WIDE, as_image, pad, rgb_over, smooth, to_8bit
from steps.registry import StepNotice, step

if TYPE_CHECKING:
    from PIL.Image import Image

_DRAWABLE = ("L", "LA", "RGB", "RGBA", "CMYK")


def drawable(value: Any, name: str) -> Image:
    """A decoded copy of the image in a mode to draw on (L, LA, RGB, RGBA or CMYK).

    Palette images become RGB(A); 16-bit grey becomes 8-bit (tones scaled), said once.
    """
    src = as_image(value)
    img = smooth(loaded(src))
    if img.mode in WIDE:
        warnings.warn(StepNotice(f"{name}: 16-bit image drawn on as 8-bit"), stacklevel=3)
        img = to_8bit(img)
    elif img.mode not in _DRAWABLE:
        try:
            img = img.convert("RGBA" if "A" in img.mode or "a" in img.mode else "RGB")
        except ValueError:
            raise ImageError(f"{name} cannot draw on mode {img.mode}; "
                             "use image.convert first") from None
    return carry(src, img.copy() if img is src else img)


# ---------------------------------------------------------------- flatten

_FLATTEN_SCHEMA = {
    "type": "object",
    "properties": {
        "background": {**COLOR_ARG, "default": "white",
                       "description": "the colour under the transparent parts: a name or "
                                      "#rrggbb (default white)"},
    },
    "examples": [{"background": "white"}, {"background": "#202020"}],
}


@step("image.flatten", drops=False, schema=_FLATTEN_SCHEMA, takes="image", gives="image")
def flatten(value: Any, background: str = "white") -> Image:
    """Lay a transparent image onto a background colour (before saving as JPEG).

    Images without transparency pass unchanged. Grey images on a grey background stay
    grey (L); the others become RGB.
    """
    src = as_image(value)
    if not src.has_transparency_data:
        return src
    img = smooth(loaded(src))
    if img.mode in ("L", "RGB"):  # one colour marked transparent (a PNG tRNS chunk)
        img = img.convert(img.mode + "A")
    back = color_in(background, "RGB")
    if img.mode in ("LA", "La") and len(set(back)) == 1:
        out = _grey_over(img.convert("LA"), back[0])
    else:
        out = rgb_over(img, background)
    out.info = {k: v for k, v in src.info.items() if k != "transparency"}
    return out


def _grey_over(img: Image, grey: int) -> Image:
    from PIL import Image as PILImage

    out = PILImage.new("L", img.size, grey)
    out.paste(img.getchannel("L"), mask=img.getchannel("A"))
    return out


# ---------------------------------------------------------------- pad

_PAD_SCHEMA = {
    "type": "object",
    "properties": {
        "width": {**SIZE, "description": "canvas width in pixels (default: the image's)"},
        "height": {**SIZE, "description": "canvas height in pixels (default: the image's)"},
        "color": {**COLOR_ARG, "description": "canvas colour. " + COLOR_ARG["description"]},
        "position": position_arg("center", "the image"),
    },
    "anyOf": [{"required": ["width"]}, {"required": ["height"]}],
    "examples": [{"width": 1080, "height": 1080, "color": "white"},
                 {"height": 600, "position": "top"}],
}


@step("image.pad", drops=False, schema=_PAD_SCHEMA, takes="image", gives="image")
def pad_to(value: Any, width: int | None = None, height: int | None = None,
           color: str | None = None, position: str = "center") -> Image:
    """Put the image on a larger canvas of a colour (letterbox, square frames).

    An image larger than the canvas fails its item: shrink it first (``image.resize``
    with ``fit: pad`` shrinks and pads in one step).
    """
    img = smooth(loaded(as_image(value)))
    w, h = img.size
    size = (width or w, height or h)
    if size[0] < w or size[1] < h:
        raise ImageError(f"the {w}x{h} image is larger than the {size[0]}x{size[1]} canvas; "
                         "shrink it first (image.resize with fit: pad shrinks and pads)")
    return img if size == (w, h) else pad(img, size, color, position)


# ---------------------------------------------------------------- overlay

_OVERLAY_SCHEMA = {
    "type": "object",
    "properties": {
        "image": {"type": "string", "minLength": 1,
                  "description": "the image file to lay on top, e.g. a PNG logo with "
                                 "transparency; relative to the working directory; must "
                                 "exist when the workflow is checked"},
        "position": position_arg("bottom-right", "the overlay"),
        "opacity": {"type": "number", "minimum": 0, "maximum": 1, "default": 1,
                    "description": "0 (invisible) to 1 (as the file is; default)"},
        "scale": {"type": "number", "exclusiveMinimum": 0, "maximum": 1,
                  "description": "the overlay's width as a share of the image's width "
                                 "(0.2: a fifth), aspect kept; default: its own size"},
        "margin": MARGIN_ARG,
    },
    "required": ["image"],
    "examples": [{"image": "brand/logo.png", "position": "bottom-right", "opacity": 0.6,
                  "scale": 0.15, "margin": 16}],
}


@lru_cache(maxsize=4)
def _mark(path: str, stamp: tuple[int, int]) -> Image:
    """The overlay file as RGBA, decoded once per process (``stamp``: its mtime and size)."""
    img = smooth(loaded(open_path(path)))
    return img if img.mode == "RGBA" else img.convert("RGBA")


def _scaled(mark: Image, width: int, opacity: float) -> Image:
    from PIL import Image as PILImage

    if mark.width != width:
        height = max(1, round(mark.height * width / mark.width))
        mark = mark.resize((width, height), PILImage.Resampling.LANCZOS)
    if opacity < 1:
        mark = mark.copy()
        mark.putalpha(mark.getchannel("A").point(lambda a: round(a * opacity)))
    return mark


@step("image.overlay", drops=False, schema=_OVERLAY_SCHEMA, takes="image", gives="image",
      reads=("image",))
def overlay(value: Any, image: str, position: str = "bottom-right", opacity: float = 1,
            scale: float | None = None, margin: int = 0) -> Image:
    """Lay another image (a logo, a watermark) on top, at a corner, an edge or the centre.

    The overlay's transparency is honoured; ``opacity`` fades it further. What falls
    outside the image is cut off. Grey and CMYK images get the overlay in their own mode.
    """
    try:
        st = os.stat(image)
    except OSError:
        raise ImageError(f"overlay image {image!r} not found") from None
    base = drawable(value, "image.overlay")
    mark = _mark(image, (st.st_mtime_ns, st.st_size))
    width = max(1, round(base.width * scale)) if scale else mark.width
    mark = _scaled(mark, width, opacity)
    x, y = place(base.size, mark.size, position, margin)
    left, top = max(x, 0), max(y, 0)
    right, bottom = min(x + mark.width, base.width), min(y + mark.height, base.height)
    if right <= left or bottom <= top:
        return base  # entirely outside (a margin wider than the image)
    part = mark.crop((left - x, top - y, right - x, bottom - y))
    if base.mode in ("RGBA", "LA"):
        mode = base.mode
        out = base.convert("RGBA") if mode == "LA" else base
        out.alpha_composite(part, (left, top))
        return carry(base, out.convert(mode) if mode == "LA" else out)
    base.paste(part.convert("RGB").convert(base.mode), (left, top), part.getchannel("A"))
    return base
