"""Image steps (Pillow), including shrink-on-load for JPEG thumbnails and resizes.

Pillow is imported inside the functions (``python -X importtime -c "import
steps.image"`` shows no PIL), so listing or validating steps stays fast.

The image that flows between steps is a Pillow image. ``image.open`` returns it
lazily (header read, pixels not decoded) so that ``image.thumbnail`` or a
downsizing ``image.resize`` can still ask the JPEG decoder for a reduced scale.
Every step that needs pixels decodes through :func:`steps.image_ops.loaded`,
which turns a truncated or corrupt file into a one-line :class:`ImageError`.
Resampling defaults to bicubic: Pillow's own default, what hand-tuned scripts
use, visually indistinguishable from Lanczos when shrinking and about a third
cheaper (a 4-tap kernel instead of 6); ``filter: lanczos`` is there when wanted.
The contact sheet, a reduce, is in :mod:`steps.image_sheet`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from steps.image_args import COLOR_ARG, FILTER_ARG, NO_ARGS, SIZE, color_in, resample
from steps.image_meta import orientation, set_upright
from steps.image_open import ImageError, loaded
from steps.image_ops import (
    WIDE,
    as_image,
    brightness,
    contain_size,
    cover_box,
    filterable,
    is_image,
    pad,
    resized,
    smooth,
    thumbnail_size,
    to_8bit,
)
from steps.image_save import SAVE_SCHEMA, format_for, output_problem, save_image, warn_ignored
from steps.image_spill import spill
from steps.registry import ValueKind, step

if TYPE_CHECKING:
    from PIL.Image import Image

# An image leaving its worker is spilled to a file; image.open reads it back.
IMAGE_VALUES = ValueKind("image", holds=is_image, spill=spill)


@step("image.open", drops=False, schema=NO_ARGS, takes="path", gives="image")
def open_(value: Any) -> Image:
    """Open an image file (lazily: pixels are decoded by the first step that needs them).

    Refuses decompression bombs and unreadable files with a one-line reason; a
    multi-frame file gives its first frame (and says so once).
    """
    return as_image(value)


@step("image.auto_orient", drops=False, schema=NO_ARGS, takes="image", gives="image")
def auto_orient(value: Any) -> Image:
    """Turn the image upright as its EXIF orientation says (unchanged when it is upright).

    The rest of the EXIF stays; its orientation tag says 1 (upright) from then on.
    """
    from PIL import ImageOps

    img = as_image(value)
    if orientation(img) == 1:
        return img  # untouched and still lazy, so a later step can draft the JPEG
    return set_upright(ImageOps.exif_transpose(loaded(img)))


_RESIZE_SCHEMA = {
    "type": "object",
    "properties": {
        "width": {**SIZE, "description": "target width in pixels"},
        "height": {**SIZE, "description": "target height in pixels"},
        "fit": {"type": "string", "enum": ["contain", "cover", "stretch", "pad"],
                "default": "contain",
                "description": "contain: fit inside, keep aspect; cover: fill and crop the "
                               "overflow (centred); stretch: exact size, aspect ignored; "
                               "pad: fit inside, then pad to the exact size"},
        "filter": FILTER_ARG,
        "color": {**COLOR_ARG, "description": "pad colour, for fit: pad; " +
                  COLOR_ARG["description"]},
    },
    "anyOf": [{"required": ["width"]}, {"required": ["height"]}],
}


@step("image.resize", drops=False, schema=_RESIZE_SCHEMA, takes="image", gives="image")
def resize(value: Any, width: int | None = None, height: int | None = None,
           fit: str = "contain", filter: str = "bicubic",  # noqa: A002 - the user's name
           color: str | None = None) -> Image:
    """Resize to width x height (one alone keeps the aspect); shrinks JPEGs on load."""
    img = as_image(value)
    w, h = img.size
    if width is None and height is None:
        raise ValueError("image.resize needs width, height or both")
    if width is None or height is None:  # one side given: the aspect decides the other
        width = width or max(1, round(w * height / h))  # type: ignore[operator]
        height = height or max(1, round(h * width / w))
        fit = "stretch"
    kernel = resample(filter)
    if fit == "stretch":
        return resized(img, (width, height), kernel)
    if fit == "cover":
        return resized(img, (width, height), kernel, box=cover_box(w, h, width, height))
    inner = resized(img, contain_size(w, h, width, height), kernel)
    if fit == "contain" or inner.size == (width, height):
        return inner
    return pad(inner, (width, height), color)


_THUMB_SCHEMA = {
    "type": "object",
    "properties": {
        "size": {"description": "the box to fit in: one number for a square, or "
                                "[width, height]; never enlarges",
                 "oneOf": [SIZE, {"type": "array", "items": SIZE,
                                   "minItems": 2, "maxItems": 2}]},
        "filter": FILTER_ARG,
    },
    "required": ["size"],
}


@step("image.thumbnail", drops=False, schema=_THUMB_SCHEMA, takes="image", gives="image")
def thumbnail(value: Any, size: int | list[int], filter: str = "bicubic",  # noqa: A002
              ) -> Image:
    """Shrink to fit a box, keeping the aspect (as Pillow's thumbnail); JPEGs shrink on load."""
    img = as_image(value)
    bw, bh = (size, size) if isinstance(size, int) else size
    target = thumbnail_size(img.width, img.height, bw, bh)
    if target is None:
        return img  # already fits: untouched (and still lazy)
    return resized(img, target, resample(filter))


_CROP_SCHEMA = {
    "type": "object",
    "properties": {
        "left": {"type": "integer", "minimum": 0, "description": "left edge (default 0)"},
        "top": {"type": "integer", "minimum": 0, "description": "top edge (default 0)"},
        "right": {"type": "integer", "minimum": 1,
                  "description": "right edge, exclusive (default: the width)"},
        "bottom": {"type": "integer", "minimum": 1,
                   "description": "bottom edge, exclusive (default: the height)"},
        "box": {"type": "array", "items": {"type": "integer", "minimum": 0},
                "minItems": 4, "maxItems": 4,
                "description": "[left, top, right, bottom] instead of the four edges"},
    },
    "minProperties": 1,
    "dependentSchemas": {"box": {"not": {"anyOf": [
        {"required": [k]} for k in ("left", "top", "right", "bottom")]}}},
}


@step("image.crop", drops=False, schema=_CROP_SCHEMA, takes="image", gives="image")
def crop(value: Any, left: int = 0, top: int = 0, right: int | None = None,
         bottom: int | None = None, box: list[int] | None = None) -> Image:
    """Keep the region between the given edges (pixels from the top-left corner)."""
    img = as_image(value)
    w, h = img.size
    if box is not None:
        left, top, right, bottom = box
    right = w if right is None else right
    bottom = h if bottom is None else bottom
    if not (0 <= left < right <= w and 0 <= top < bottom <= h):
        raise ImageError(f"crop box ({left}, {top}, {right}, {bottom}) is empty or outside "
                         f"the {w}x{h} image")
    return loaded(img).crop((left, top, right, bottom))


_ROTATE_SCHEMA = {
    "type": "object",
    "properties": {
        "degrees": {"type": "number", "minimum": -360, "maximum": 360,
                    "description": "angle, counter-clockwise (as Pillow); -90 turns clockwise"},
        "expand": {"type": "boolean", "default": True,
                   "description": "grow the canvas to hold the whole turned image "
                                  "(false: keep the size, corners cut)"},
        "filter": {**FILTER_ARG, "enum": ["nearest", "bilinear", "bicubic"],
                   "description": "resampling filter; bicubic (default) is the sharpest "
                                  "rotate offers"},
        "color": {**COLOR_ARG, "description": "fill for uncovered corners: " +
                  COLOR_ARG["description"]},
    },
    "required": ["degrees"],
}
_QUARTER_TURNS = {90: "ROTATE_90", 180: "ROTATE_180", 270: "ROTATE_270"}


@step("image.rotate", drops=False, schema=_ROTATE_SCHEMA, takes="image", gives="image")
def rotate(value: Any, degrees: float, expand: bool = True,
           filter: str = "bicubic", color: str | None = None) -> Image:  # noqa: A002
    """Turn the image counter-clockwise by the given degrees (quarter turns exact)."""
    from PIL import Image as PILImage

    img = smooth(loaded(as_image(value)))
    turn = degrees % 360
    if turn == 0:
        return img
    if turn in _QUARTER_TURNS and (expand or turn == 180):
        return img.transpose(getattr(PILImage.Transpose, _QUARTER_TURNS[int(turn)]))
    fill = None if color is None else color_in(color, img.mode)
    return img.rotate(degrees, resample(filter), expand=expand, fillcolor=fill)


_FLIP_SCHEMA = {"type": "object", "properties": {
    "direction": {"type": "string", "enum": ["horizontal", "vertical"],
                  "default": "horizontal",
                  "description": "horizontal: mirror left-right; vertical: upside down"}}}


@step("image.flip", drops=False, schema=_FLIP_SCHEMA, takes="image", gives="image")
def flip(value: Any, direction: str = "horizontal") -> Image:
    """Mirror the image left-right (horizontal) or top-bottom (vertical)."""
    from PIL import Image as PILImage

    how = (PILImage.Transpose.FLIP_LEFT_RIGHT if direction == "horizontal"
           else PILImage.Transpose.FLIP_TOP_BOTTOM)
    return loaded(as_image(value)).transpose(how)


@step("image.grayscale", drops=False, schema=NO_ARGS, takes="image", gives="image")
def grayscale(value: Any) -> Image:
    """Convert to shades of grey (transparency kept)."""
    img = smooth(loaded(as_image(value)))
    if img.mode in ("L", "LA", "I", "I;16", "F"):
        return img
    if "A" in img.mode or img.mode == "RGBa":
        return img.convert("LA")
    return img.convert("L")


_MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "I", "I;16", "F"]
_CONVERT_SCHEMA = {"type": "object", "required": ["mode"], "properties": {
    "mode": {"type": "string", "enum": _MODES,
             "description": "Pillow mode: RGB, RGBA, L (grey), LA, 1 (black and white), "
                            "P (256-colour palette), CMYK, I;16 (16-bit grey) ..."}}}


@step("image.convert", drops=False, schema=_CONVERT_SCHEMA, takes="image", gives="image")
def convert(value: Any, mode: str) -> Image:
    """Convert to another Pillow mode (16-bit images are scaled, not clipped, to 8 bits)."""
    from PIL import Image as PILImage

    img = loaded(as_image(value))
    if img.mode == mode:
        return img
    if img.mode in WIDE and mode not in WIDE and mode != "F":
        img = to_8bit(img)  # Pillow's own convert clips 16-bit tones at 255 (all white)
    if mode == "P":
        img = smooth(img)
        if "A" in img.mode:
            return img.quantize(256, PILImage.Quantize.FASTOCTREE)
        return img.convert("RGB").convert("P", palette=PILImage.Palette.ADAPTIVE)
    return img.convert(mode)


_BLUR_SCHEMA = {"type": "object", "properties": {
    "radius": {"type": "number", "minimum": 0, "maximum": 1000, "default": 2,
               "description": "Gaussian blur radius in pixels (default 2)"}}}


@step("image.blur", drops=False, schema=_BLUR_SCHEMA, takes="image", gives="image")
def blur(value: Any, radius: float = 2) -> Image:
    """Gaussian blur."""
    from PIL import ImageFilter

    return filterable(value, "image.blur").filter(ImageFilter.GaussianBlur(radius))


_SHARPEN_SCHEMA = {"type": "object", "properties": {
    "radius": {"type": "number", "minimum": 0, "maximum": 100, "default": 2,
               "description": "unsharp-mask radius in pixels (default 2)"},
    "percent": {"type": "integer", "minimum": 0, "maximum": 1000, "default": 150,
                "description": "strength in percent (default 150)"},
    "threshold": {"type": "integer", "minimum": 0, "maximum": 255, "default": 3,
                  "description": "smallest brightness change that is sharpened (default 3)"}}}


@step("image.sharpen", drops=False, schema=_SHARPEN_SCHEMA, takes="image", gives="image")
def sharpen(value: Any, radius: float = 2, percent: int = 150, threshold: int = 3) -> Image:
    """Sharpen with an unsharp mask."""
    from PIL import ImageFilter

    return filterable(value, "image.sharpen").filter(
        ImageFilter.UnsharpMask(radius, percent, threshold))


_AUTOCONTRAST_SCHEMA = {"type": "object", "properties": {
    "cutoff": {"type": "number", "minimum": 0, "maximum": 49, "default": 0,
               "description": "percent of darkest and lightest pixels to ignore (default 0)"}}}


@step("image.autocontrast", drops=False, schema=_AUTOCONTRAST_SCHEMA, takes="image", gives="image")
def autocontrast(value: Any, cutoff: float = 0) -> Image:
    """Stretch the tones to the full range (alpha left alone)."""
    from PIL import Image as PILImage
    from PIL import ImageOps

    img = filterable(value, "image.autocontrast")
    if img.mode in ("RGBA", "LA"):
        *colour, alpha = img.split()
        base = PILImage.merge(img.mode[:-1], colour)
        out = ImageOps.autocontrast(base, cutoff)
        out.putalpha(alpha)
        return out
    return ImageOps.autocontrast(img, cutoff)


_MEASURE_SCHEMA = {"type": "object", "required": ["what"], "properties": {
    "what": {"type": "string", "enum": ["brightness", "width", "height", "pixels", "aspect"],
             "description": "brightness: mean grey level 0-255; width, height, pixels: "
                            "sizes; aspect: width / height"}}}


@step("image.measure", drops=False, schema=_MEASURE_SCHEMA, takes="image", gives="number")
def measure(value: Any, what: str) -> float | int:
    """A number about the image; sizes come from the header without decoding pixels."""
    img = as_image(value)
    w, h = img.size
    if what == "width":
        return w
    if what == "height":
        return h
    if what == "pixels":
        return w * h
    if what == "aspect":
        return w / h
    return brightness(img)


@step("image.save", drops=False, schema=SAVE_SCHEMA, takes="image", gives="path", outputs=("to",),
      check_output=output_problem)
def save(value: Any, to: str, format: str | None = None,  # noqa: A002 - the user's name
         quality: int | None = None, metadata: str = "keep", **options: Any) -> str:
    """Write the image (atomically: whole or not at all) with its colour profile; gives the path.

    Modes the format cannot store are converted where that is lossless or standard
    (palette to RGB, opaque RGBA to RGB, CMYK to RGB for PNG, 16-bit to 8-bit for
    JPEG with a notice); transparency that JPEG would lose is refused (flatten it).
    ``metadata``, ``options``: see SAVE_SCHEMA; options the format has no use for
    are said once and ignored.
    """
    fmt = format_for(to, format)
    warn_ignored(fmt, {"quality": quality, **options})
    return save_image(as_image(value), to, fmt, quality, metadata, **options)
