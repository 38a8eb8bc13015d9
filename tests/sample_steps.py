"""A small step library for the loader's tests: the shapes of the built-in steps.

The tests build their registry from this module with ``steps.registry.collect``,
so they do not depend on Pillow or on the real step modules.
"""

from __future__ import annotations

from steps.registry import step

SIZE = {"anyOf": [{"type": "integer", "minimum": 1},
                  {"type": "array", "items": {"type": "integer", "minimum": 1},
                   "minItems": 2, "maxItems": 2}]}


@step("image.auto_orient", takes="image", gives="image")
def auto_orient(value):
    """Turn the image as its EXIF orientation says."""
    return value


@step("image.thumbnail", schema={"properties": {"size": SIZE}, "required": ["size"]},
      takes="image", gives="image")
def thumbnail(value, size):
    """Shrink to fit a box."""
    return value


@step("image.resize", schema={"properties": {
    "width": {"type": "integer", "minimum": 1},
    "height": {"type": "integer", "minimum": 1},
    "fit": {"enum": ["contain", "cover", "stretch", "pad"]},
    "filter": {"type": "string"}},
    "anyOf": [{"required": ["width"]}, {"required": ["height"]}]}, takes="image", gives="image")
def resize(value, width=None, height=None, fit="contain", filter="lanczos"):
    """Resize."""
    return value


@step("image.save", schema={"properties": {
    "to": {"type": "string"}, "format": {"type": "string"},
    "quality": {"type": "integer", "minimum": 1, "maximum": 100}}, "required": ["to"]},
    takes="image", gives="path", outputs=("to",))
def save(value, to, format=None, quality=90):
    """Save the image."""
    return to


@step("image.measure", schema={"properties": {
    "what": {"enum": ["brightness", "width", "height", "pixels", "aspect"]}}},
    takes="image", gives="number")
def measure(value, what="brightness"):
    """A number from an image."""
    return 0.0


@step("numeric.square", takes="number", gives="number")
def square(value):
    """x * x."""
    return value * value


@step("numeric.stats", kind="reduce", takes="number")
def stats(values):
    """Count, min, max, mean."""
    values = list(values)
    return {"count": len(values)}


@step("numeric.sum", kind="reduce", takes="number", gives="number")
def total(values):
    """The sum."""
    return sum(values)


@step("io.write", kind="reduce", schema={"properties": {"to": {"type": "string"}},
                                         "required": ["to"]}, outputs=("to",))
def write(values, to):
    """Write every value to one file."""
    return to


def brighten(value, amount=1):
    """A plain function: a map step through py:."""
    return value + amount
