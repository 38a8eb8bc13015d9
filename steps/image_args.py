"""What the image steps share: argument schemas, and the resampling filter by name."""

from __future__ import annotations

from typing import Any

FILTERS = ("nearest", "bilinear", "bicubic", "lanczos")
FILTER_ARG = {"type": "string", "enum": list(FILTERS), "default": "bicubic",
              "description": "resampling filter; bicubic (default) is sharp and fast, "
                             "lanczos a little sharper and slower"}
COLOR_ARG = {"type": "string", "minLength": 1,
             "description": "a colour name or #rrggbb (default: black, or transparent "
                            "for images with alpha)"}
NO_ARGS: dict[str, Any] = {"type": "object", "properties": {}}
SIZE = {"type": "integer", "minimum": 1, "maximum": 100_000}


def resample(name: str) -> int:
    """Pillow's resampling filter for a ``filter`` argument ("bicubic" ...)."""
    from PIL import Image

    return getattr(Image.Resampling, name.upper())
