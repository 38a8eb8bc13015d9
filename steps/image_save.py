"""Saving an image: the format from the suffix, a mode the format can store, atomically.

Also each format's options (quality, progressive, optimize, lossless, compression)
and, through :mod:`steps.image_meta`, the profile and metadata the file keeps.
Pillow is imported inside the functions, as everywhere in ``steps/``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from steps.atomic import atomic_file
from steps.image_meta import metadata_params
from steps.image_open import ImageError, loaded, one_line
from steps.image_ops import WIDE, smooth, to_8bit
from steps.registry import StepNotice

if TYPE_CHECKING:
    from PIL.Image import Image

_EXTENSIONS = {".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".png": "PNG",
               ".webp": "WEBP", ".gif": "GIF", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP",
               ".avif": "AVIF"}
# Modes each format stores as they are; a format not listed here is left to Pillow.
_STORES = {
    "JPEG": {"1", "L", "RGB", "RGBX", "CMYK", "YCbCr"},
    "PNG": {"1", "L", "LA", "I", "I;16", "I;16B", "P", "PA", "RGB", "RGBA"},
    "WEBP": {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX"},
    "GIF": {"1", "L", "P", "PA", "RGB", "RGBA", "LA"},
    "BMP": {"1", "L", "P", "RGB", "RGBA"},
    "AVIF": {"L", "RGB", "RGBA"},
}
_FORMATS = ["jpeg", "png", "webp", "avif", "tiff", "gif", "bmp"]
SAVE_SCHEMA = {
    "type": "object",
    "properties": {
        "to": {"type": "string", "minLength": 1,
               "description": "output path; a template like 'out/{stem}.jpg'; the suffix "
                              "picks the format unless 'format' is given"},
        "format": {"type": "string", "enum": _FORMATS,
                   "description": "image format, when the suffix should not decide"},
        "quality": {"type": "integer", "minimum": 1, "maximum": 100,
                    "description": "JPEG, WebP and AVIF quality (default: JPEG 85, WebP 80, "
                                   "AVIF 60, about the same look)"},
        "metadata": {"type": "string", "enum": ["keep", "strip", "minimal"], "default": "keep",
                     "description": "keep: colour profile, EXIF (camera, dates, GPS), XMP; "
                                    "minimal: colour profile and copyright only; strip: "
                                    "nothing, not even the colour profile. An EXIF "
                                    "orientation the pixels still need is always written"},
        "progressive": {"type": "boolean", "default": False,
                        "description": "JPEG: progressive (shows coarse first while loading)"},
        "optimize": {"type": "boolean", "default": False,
                     "description": "JPEG, PNG: spend more time for a smaller file"},
        "lossless": {"type": "boolean", "default": False,
                     "description": "WebP: lossless (quality then sets the effort)"},
        "compression": {"type": "integer", "minimum": 0, "maximum": 9,
                        "description": "PNG: zlib level, 0 (none, fast) to 9 (smallest); "
                                       "default 6"},
    },
    "required": ["to"],
    "examples": [{"to": "web/{stem}.jpg", "quality": 82, "progressive": True},
                 {"to": "archive/{relpath}.png", "compression": 9, "metadata": "keep"}],
}
# Quality where none is given: about the same look in each (AVIF's scale runs lower).
QUALITY = {"JPEG": 85, "WEBP": 80, "AVIF": 60}
# The formats each option of image.save applies to (its default means "not given").
OPTIONS = {"quality": (set(QUALITY), None), "progressive": ({"JPEG"}, False),
           "optimize": ({"JPEG", "PNG"}, False), "lossless": ({"WEBP"}, False),
           "compression": ({"PNG"}, None)}


def format_for(path: str, fmt: str | None) -> str:
    """The Pillow format to write ``path`` in: ``fmt`` if given, else the path's suffix's.

    ImageError when a known suffix contradicts ``fmt`` (PNG bytes in a ``.jpg``), or
    when there is no ``fmt`` and the suffix names no format.
    """
    ext = os.path.splitext(path)[1]
    found = _suffix_format(ext.lower())
    if fmt:
        if found is not None and found != fmt.upper():
            raise ImageError(f"its suffix {ext} means {found}, but format is {fmt}; "
                             "make them agree")
        return fmt.upper()
    if found is None:
        raise ImageError("cannot tell the image format from "
                         f"{repr(ext) if ext else 'a name without suffix'}; give 'format'")
    return found


def _suffix_format(ext: str) -> str | None:
    if not ext:
        return None
    found = _EXTENSIONS.get(ext)
    if found is None:  # a rarer suffix: Pillow's own table (importing Pillow only now)
        from PIL import Image

        found = Image.registered_extensions().get(ext)
    return found


def output_problem(path: str, args: Mapping[str, Any]) -> str | None:
    """What is wrong with saving to ``path`` with these step arguments (its suffix against
    ``format``), or None; the engine asks before anything runs."""
    try:
        format_for(path, args.get("format"))
    except ImageError as exc:
        return str(exc)
    return None


def fit_mode(img: Image, fmt: str) -> Image:
    """``img`` in a mode ``fmt`` can store: converted where that is lossless or standard.

    P -> RGB/RGBA, CMYK -> RGB (where CMYK cannot be kept), alpha dropped only when
    fully opaque, 16-bit -> 8-bit where the format has no 16 bits (with a notice).
    Anything else raises ImageError naming a format that would take it.
    """
    stores = _STORES.get(fmt)
    mode = img.mode
    if stores is None or mode in stores:
        return img
    if mode in ("P", "PA"):
        return fit_mode(smooth(img), fmt)
    if mode in ("RGBA", "LA", "RGBa", "La"):
        if "RGBA" in stores and mode != "RGBA":
            return img.convert("RGBA")
        if img.getchannel("A").getextrema()[0] == 255:
            return fit_mode(img.convert("L" if mode[0] == "L" else "RGB"), fmt)
        raise ImageError(f"cannot save {mode} with transparency as {fmt}, which has no "
                         "alpha: add an image.flatten step before image.save (with: "
                         "{background: white}), or use .png or .webp")
    if mode in WIDE:
        lo, hi = img.getextrema()
        if lo < 0 or hi > 65535:
            raise ImageError(f"cannot save 32-bit mode {mode} as {fmt}; use .tiff")
        if mode != "I" or hi > 255:  # real 16-bit tones: say that they lose precision
            warnings.warn(StepNotice(f"16-bit image saved as 8-bit {fmt}"), stacklevel=3)
        return fit_mode(to_8bit(img), fmt)
    if mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        return fit_mode(img.convert("RGB"), fmt)
    if mode == "1":
        return fit_mode(img.convert("L"), fmt)
    raise ImageError(f"cannot save mode {mode} as {fmt}; use .tiff or image.convert first")


def avif_ready() -> bool:
    """Whether this Pillow can write AVIF (wheels from 11.3 on bring libavif)."""
    from PIL import features

    try:
        return bool(features.check("avif"))
    except ValueError:  # a Pillow older than the AVIF plugin does not know the name
        return False


def encoder_params(fmt: str, quality: int | None = None, **options: Any) -> dict[str, Any]:
    """Pillow's save parameters for the options (see ``OPTIONS``) that apply to ``fmt``."""
    params: dict[str, Any] = {}
    if fmt in QUALITY:
        params["quality"] = quality or QUALITY[fmt]
    if fmt == "JPEG":
        params["progressive"] = bool(options.get("progressive"))
    if fmt in ("JPEG", "PNG"):
        params["optimize"] = bool(options.get("optimize"))
    if fmt == "WEBP" and options.get("lossless"):
        params["lossless"] = True  # quality is then the effort spent on compressing
    if fmt == "PNG" and options.get("compression") is not None:
        params["compress_level"] = options["compression"]
    return params


def warn_ignored(fmt: str, given: dict[str, Any]) -> None:
    """Say once (a StepNotice) which options in ``given`` ``fmt`` has no use for."""
    for name, (formats, unset) in OPTIONS.items():
        if given.get(name, unset) != unset and fmt not in formats:
            names = ", ".join(sorted(f.lower() for f in formats))
            warnings.warn(StepNotice(f"image.save: '{name}' applies to {names} only; "
                                     f"ignored for {fmt.lower()}"), stacklevel=3)


def save_image(img: Image, to: str | os.PathLike[str], fmt: str | None = None,
               quality: int | None = None, metadata: str = "keep", **options: Any) -> str:
    """Write ``img`` to ``to`` atomically, in a mode the format takes; returns ``to``.

    ``quality`` (default per format: ``QUALITY``) and ``options`` (``OPTIONS``) go to
    the formats that take them; ``metadata`` is the policy of :mod:`steps.image_meta`
    (keep, minimal or strip).
    """
    fmt = format_for(to, fmt)
    if fmt == "AVIF" and not avif_ready():
        raise ImageError("this Pillow cannot write AVIF (it was built without libavif); "
                         "save as .webp, or install a Pillow with AVIF (11.3 or later)")
    out = fit_mode(loaded(img), fmt)
    out, params = metadata_params(img, out, fmt, metadata)
    params.update(encoder_params(fmt, quality, **options))
    try:
        with atomic_file(to) as fh:  # a file object: Pillow then writes through Python
            out.save(fh, format=fmt, **params)
    except (KeyError, OSError, ValueError) as exc:
        if isinstance(exc, ImageError) or (isinstance(exc, OSError) and exc.errno):
            raise  # a real file-system error (disk full, permission) says so itself
        raise ImageError(f"cannot save mode {out.mode} as {fmt}: {one_line(exc)}") from None
    return os.fspath(to)
