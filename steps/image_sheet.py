"""``image.contact_sheet``: every image of a run as one tiled sheet (a reduce step).

Pillow is imported inside the function, as everywhere in ``steps/``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from steps.image_args import COLOR_ARG, resample
from steps.image_open import ImageError, loaded
from steps.image_ops import as_image, resized, rgb_over, smooth, thumbnail_size
from steps.image_save import output_problem, save_image
from steps.registry import StepNotice, step

_SHEET_SCHEMA = {
    "type": "object",
    "properties": {
        "to": {"type": "string", "minLength": 1,
               "description": "output image path (suffix picks the format)"},
        "columns": {"type": "integer", "minimum": 1, "maximum": 1000,
                    "description": "tiles per row (default: about a square sheet)"},
        "tile": {"type": "integer", "minimum": 8, "maximum": 4096, "default": 256,
                 "description": "tile size in pixels; each image is fitted inside"},
        "color": {**COLOR_ARG, "default": "white",
                  "description": "background colour (default white)"},
        "quality": {"type": "integer", "minimum": 1, "maximum": 100, "default": 90,
                    "description": "JPEG/WebP quality (default 90)"},
    },
    "required": ["to"],
}


@step("image.contact_sheet", kind="reduce", schema=_SHEET_SCHEMA, takes="any", gives="path",
      outputs=("to",), check_output=output_problem)
def contact_sheet(values: list[Any], to: str, columns: int | None = None, tile: int = 256,
                  color: str = "white", quality: int = 90) -> str:
    """One image with every input as a tile, in order; gives the output path.

    Takes images or image paths; each is shrunk on load and released before the
    next, so memory holds the sheet and one image. Unreadable ones are left out
    (said once).
    """
    from PIL import Image as PILImage

    values = list(values)
    if not values:
        raise ImageError("a contact sheet needs at least one image")
    cols = columns or math.ceil(math.sqrt(len(values)))
    rows = math.ceil(len(values) / cols)
    sheet = PILImage.new("RGB", (cols * tile, rows * tile), color)
    skipped = 0
    for i, value in enumerate(values):
        try:
            img = as_image(value)
            fit = thumbnail_size(img.width, img.height, tile, tile)  # never enlarged
            img = resized(img, fit, resample("bicubic")) if fit else smooth(loaded(img))
        except ImageError:
            skipped += 1
            continue
        img = rgb_over(img, color)
        x = (i % cols) * tile + (tile - img.width) // 2
        y = (i // cols) * tile + (tile - img.height) // 2
        sheet.paste(img, (x, y))
    if skipped:
        warnings.warn(StepNotice(f"contact sheet: {skipped} unreadable image(s) left out"),
                      stacklevel=2)
    return save_image(sheet, to, None, quality)
