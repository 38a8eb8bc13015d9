"""``image.filter``: keep images by size or orientation, read from the header alone.

Opening is lazy, so a photo this step drops is never decoded. Sizes are as the
photo is shown: a camera's portrait stored landscape with an EXIF orientation of
5-8 counts as portrait (after ``image.auto_orient`` it is upright anyway).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from steps.image_args import SIZE
from steps.image_meta import orientation as exif_orientation
from steps.image_open import ImageError
from steps.image_ops import as_image
from steps.registry import step

if TYPE_CHECKING:
    from PIL.Image import Image

_BOUNDS = ("min_width", "max_width", "min_height", "max_height")
_FILTER_SCHEMA = {
    "type": "object",
    "properties": {
        **{name: {**SIZE, "description": f"{name.replace('_', ' ')} in pixels (inclusive)"}
           for name in _BOUNDS},
        "orientation": {"type": "string", "enum": ["landscape", "portrait", "square"],
                        "description": "landscape: wider than high; portrait: higher than "
                                       "wide; square: both sides equal"},
    },
    "minProperties": 1,
    "examples": [{"min_width": 1200}, {"orientation": "portrait", "max_height": 8000}],
}


@step("image.filter", schema=_FILTER_SCHEMA, takes="image", gives="image")
def filter_(value: Any, min_width: int | None = None, max_width: int | None = None,
            min_height: int | None = None, max_height: int | None = None,
            orientation: str | None = None) -> Image | None:
    """Keep images within the sizes and of the orientation given; drop the others.

    Sizes come from the file's header (no pixels decoded) and are as the photo is shown
    (its EXIF orientation applied).
    """
    for low, high in ((min_width, max_width), (min_height, max_height)):
        if low is not None and high is not None and low > high:
            raise ImageError(f"image.filter keeps nothing: a minimum of {low} is above "
                             f"the maximum of {high}")
    img = as_image(value)
    w, h = img.size
    if exif_orientation(img, header_only=True) >= 5:  # 5-8 turn the picture a quarter: shown h x w
        w, h = h, w
    keep = ((min_width is None or w >= min_width) and (max_width is None or w <= max_width)
            and (min_height is None or h >= min_height)
            and (max_height is None or h <= max_height))
    if orientation is not None:
        shape = "landscape" if w > h else "portrait" if h > w else "square"
        keep = keep and shape == orientation
    return img if keep else None
