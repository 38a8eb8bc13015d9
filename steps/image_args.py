"""What the image steps share: argument schemas, the resampling filter, colours and placement."""

from __future__ import annotations

from typing import Any

from steps.image_open import ImageError

FILTERS = ("nearest", "bilinear", "bicubic", "lanczos")
FILTER_ARG = {"type": "string", "enum": list(FILTERS), "default": "bicubic",
              "description": "resampling filter; bicubic (default) is sharp and fast, "
                             "lanczos a little sharper and slower"}
COLOR_ARG = {"type": "string", "minLength": 1,
             "description": "a colour name or #rrggbb (default: black, or transparent "
                            "for images with alpha)"}
NO_ARGS: dict[str, Any] = {"type": "object", "properties": {}}
SIZE = {"type": "integer", "minimum": 1, "maximum": 100_000}
POSITIONS = ("center", "top-left", "top", "top-right", "left", "right",
             "bottom-left", "bottom", "bottom-right")
MARGIN_ARG = {"type": "integer", "minimum": 0, "maximum": 100_000, "default": 0,
              "description": "pixels kept free between the image's edge and what is placed "
                             "(default 0)"}


def position_arg(default: str, what: str) -> dict[str, Any]:
    """The schema of a ``position`` argument: where ``what`` goes on the image."""
    return {"type": "string", "enum": list(POSITIONS), "default": default,
            "description": f"where {what} goes: center, top, bottom, left, right or a corner "
                           "(top-left ... bottom-right)"}


def resample(name: str) -> int:
    """Pillow's resampling filter for a ``filter`` argument ("bicubic" ...)."""
    from PIL import Image

    return getattr(Image.Resampling, name.upper())


def color_in(color: str | None, mode: str) -> Any:
    """Pillow's fill value for ``color`` in ``mode``; None means black or transparent.

    Made by converting one pixel, so CMYK gets ink values (Pillow's own
    ``ImageColor.getcolor`` hands CMYK the RGB numbers) and 16-bit grey a 16-bit tone.
    """
    from PIL import Image, ImageColor

    if color is None:
        return 0
    try:
        rgba = ImageColor.getrgb(color)
    except ValueError:
        raise ImageError(f"unknown colour {color!r}: give a name (white) or #rrggbb") from None
    probe = Image.new("RGBA", (1, 1), rgba)
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        return probe.convert("L").getpixel((0, 0)) * 257  # type: ignore[operator]
    try:
        return probe.convert(mode).getpixel((0, 0))
    except ValueError:  # a mode Pillow cannot convert RGBA into: its own reading
        return ImageColor.getcolor(color, mode)


def place(size: tuple[int, int], box: tuple[int, int], position: str,
          margin: int = 0) -> tuple[int, int]:
    """The top-left corner of a ``box``-sized thing at ``position`` on a ``size`` image."""
    (w, h), (bw, bh) = size, box
    col = 0 if position.endswith("left") else 2 if position.endswith("right") else 1
    row = 0 if position.startswith("top") else 2 if position.startswith("bottom") else 1
    xs = (margin, (w - bw) // 2, w - bw - margin)
    ys = (margin, (h - bh) // 2, h - bh - margin)
    return xs[col], ys[row]
