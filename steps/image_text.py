"""``image.text``: a caption or credit drawn on the image, in Pillow's own font.

The font is the one Pillow ships (``ImageFont.load_default``: Aileron, scalable where
Pillow has FreeType), so a workflow draws the same text on every machine with no
font files to install. Pillow is imported inside the functions, as everywhere in
``steps/``.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from steps.image_args import COLOR_ARG, MARGIN_ARG, color_in, place, position_arg
from steps.image_compose import drawable
from steps.registry import StepNotice, step

if TYPE_CHECKING:
    from PIL.Image import Image
    from PIL.ImageFont import FreeTypeFont, ImageFont

_TEXT_SCHEMA = {
    "type": "object",
    "properties": {
        "text": {"type": "string", "minLength": 1, "maxLength": 10_000,
                 "description": "the words to draw; a line break starts a new line"},
        "position": position_arg("bottom", "the text"),
        "size": {"type": "integer", "minimum": 4, "maximum": 2000,
                 "description": "letter height in pixels (default: a twentieth of the "
                                "image's height, at least 10)"},
        "color": {**COLOR_ARG, "default": "white",
                  "description": "text colour: a name or #rrggbb (default white)"},
        "outline": {**COLOR_ARG,
                    "description": "a thin line of this colour round each letter, so the "
                                   "text reads on light and dark parts alike (default: none)"},
        "margin": {**{k: v for k, v in MARGIN_ARG.items() if k != "default"},
                   "description": "pixels between the text and the image's edge "
                                  "(default: half the letter height)"},
    },
    "required": ["text"],
    "examples": [{"text": "(c) Jane Doe 2024", "position": "bottom-right", "size": 24,
                  "color": "white", "outline": "black"}],
}


@lru_cache(maxsize=8)
def font(size: int) -> FreeTypeFont | ImageFont:
    """Pillow's default font at ``size`` pixels (its small fixed font without FreeType)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError):  # a Pillow built without FreeType
        warnings.warn(StepNotice("image.text: this Pillow has no FreeType; the small fixed "
                                 "font is used, whatever the size"), stacklevel=2)
        return ImageFont.load_default()


@step("image.text", drops=False, schema=_TEXT_SCHEMA, takes="image", gives="image")
def text(value: Any, text: str, position: str = "bottom", size: int | None = None,
         color: str = "white", outline: str | None = None, margin: int | None = None) -> Image:
    """Draw a caption or credit on the image (Pillow's built-in font, any size)."""
    from PIL import ImageDraw

    img = drawable(value, "image.text")
    size = size or max(10, img.height // 20)
    margin = size // 2 if margin is None else margin
    face = font(size)
    stroke = max(1, round(size / 16)) if outline else 0
    align = "left" if position.endswith("left") else \
        "right" if position.endswith("right") else "center"
    draw = ImageDraw.Draw(img)
    left, top, right, bottom = draw.multiline_textbbox((0, 0), text, font=face, align=align,
                                                       stroke_width=stroke)
    x, y = place(img.size, (right - left, bottom - top), position, margin)
    draw.multiline_text((x - left, y - top), text, fill=color_in(color, img.mode), font=face,
                        align=align, stroke_width=stroke,
                        stroke_fill=color_in(outline, img.mode) if outline else None)
    return img
