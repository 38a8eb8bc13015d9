"""Saving an image: the format from the suffix, a mode the format can store, atomically.

Pillow is imported inside the functions, as everywhere in ``steps/``.
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING, Any

from steps.atomic import atomic_path
from steps.image_open import ImageError, loaded, one_line
from steps.image_ops import WIDE, smooth, to_8bit
from steps.registry import StepNotice

if TYPE_CHECKING:
    from PIL.Image import Image

_EXTENSIONS = {".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".png": "PNG",
               ".webp": "WEBP", ".gif": "GIF", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP"}
# Modes each format stores as they are; a format not listed here is left to Pillow.
_STORES = {
    "JPEG": {"1", "L", "RGB", "RGBX", "CMYK", "YCbCr"},
    "PNG": {"1", "L", "LA", "I", "I;16", "I;16B", "P", "PA", "RGB", "RGBA"},
    "WEBP": {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX"},
    "GIF": {"1", "L", "P", "PA", "RGB", "RGBA", "LA"},
    "BMP": {"1", "L", "P", "RGB", "RGBA"},
}
_LOSSY = {"JPEG", "WEBP"}


def format_for(path: str, fmt: str | None) -> str:
    """The Pillow format name: ``fmt`` if given, else from the path's suffix."""
    if fmt:
        return fmt.upper()
    ext = os.path.splitext(path)[1].lower()
    found = _EXTENSIONS.get(ext)
    if found is None:
        from PIL import Image

        found = Image.registered_extensions().get(ext)
    if found is None:
        raise ImageError(f"cannot tell the image format from {ext or 'a name without suffix'!r};"
                         " give 'format'")
    return found


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
        if img.getchannel("A").getextrema()[0] == 255:
            return fit_mode(img.convert("L" if mode[0] == "L" else "RGB"), fmt)
        raise ImageError(f"cannot save {mode} with transparency as {fmt}; use .png")
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


def _orientation(img: Image) -> int:
    try:
        return int(img.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - unreadable EXIF means no orientation
        return 1


def save_image(img: Image, to: str | os.PathLike[str], fmt: str | None = None,
               quality: int = 85) -> str:
    """Write ``img`` to ``to`` atomically, in a mode the format takes; returns ``to``.

    Keeps the ICC colour profile and a non-default EXIF orientation (so viewers still
    turn an image that was not auto-oriented); other metadata is dropped.
    """
    fmt = format_for(to, fmt)
    src_mode = img.mode
    out = fit_mode(loaded(img), fmt)
    params: dict[str, Any] = {}
    if fmt in _LOSSY:
        params["quality"] = quality
    icc = img.info.get("icc_profile")
    if icc and (out.mode == src_mode or src_mode in ("P", "PA", "RGBA")):
        params["icc_profile"] = icc
    if ("exif" in img.info or "xmp" in img.info) and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        turn = _orientation(img)
        if turn != 1:
            from PIL import Image as PILImage

            exif = PILImage.Exif()
            exif[0x0112] = turn
            params["exif"] = exif.tobytes()
    try:
        with atomic_path(to) as tmp:
            out.save(tmp, format=fmt, **params)
    except (KeyError, OSError, ValueError) as exc:
        if isinstance(exc, ImageError) or (isinstance(exc, OSError) and exc.errno):
            raise  # a real file-system error (disk full, permission) says so itself
        raise ImageError(f"cannot save mode {out.mode} as {fmt}: {one_line(exc)}") from None
    return os.fspath(to)
