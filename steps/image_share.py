"""One decode for several branches: an opened image readied for all of them.

When branches of a tree start from the same opened image, the image is decoded
once, here, before any branch runs: a JPEG is drafted (shrunk on load) to the
largest scale any branch's first step needs, exactly as that step would draft it
alone, so the largest output is the same as from a run of its own and the
smaller ones are made from that larger decode (or, where the gap is wide enough to
give the same result, from a larger output: :data:`CASCADE`). When only some
branches run (the others' outputs are up to date), ``heads`` holds only theirs and
the draft is for them. A branch whose first step needs
every pixel (or is not a resize) gets the full image. Nothing here changes the
image after it is decoded; flow's own steps return new images.
"""

from __future__ import annotations

import math
from typing import Any

from steps.image_args import resample
from steps.image_open import DRAFTABLE, loaded
from steps.image_ops import (
    as_image,
    contain_size,
    cover_box,
    is_image,
    resized,
    thumbnail_size,
)

Heads = tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]


def share(value: Any, heads: Heads = ()) -> Any:
    """``value`` decoded once for branches starting with ``heads`` ((step name, args), ...)."""
    if not is_image(value):
        return value
    img = value
    w, h = img.size
    if img.format in DRAFTABLE and img.tile:
        wants = [want(name, dict(args), w, h) for name, args in heads]
        ww, wh = max(x for x, _ in wants), max(y for _, y in wants)
        if ww * 2 <= w and wh * 2 <= h:  # as image_ops.resized decides to draft
            img.draft(None, (ww, wh))
    return loaded(img)


def cascades(name: str, args: dict[str, Any]) -> bool:
    """Whether a branch's first step only scales the whole image (no crop, no padding),
    so :func:`share_heads` can make its output from a larger branch's."""
    if name == "image.thumbnail":
        return True
    one_side = args.get("width") is None or args.get("height") is None
    return name == "image.resize" and (one_side or args.get("fit", "contain")
                                       in ("contain", "stretch"))


# An output is made from a larger one only when that one is at least this many times its
# size on both sides: the bicubic kernel then spans 8 or more of its pixels, and the result
# differs from a resize of the decode itself by a mean of 0.25 of 255 and at most 8 (on
# photos; 1 level or less at 99.9% of pixels), far below a JPEG save's own error (a mean
# of 2 and up to 80 at quality 85). Closer sizes differ more (up to 20 at 1.25x): they are
# made from the decode, exactly as each branch alone makes them.
CASCADE = 2


def share_heads(value: Any, heads: Heads = ()) -> tuple[Any, ...]:
    """Every branch's first step done at once: the image decoded once, the largest output
    made from that decode, and each smaller one from the smallest output at least
    :data:`CASCADE` times its size (else from the decode too).

    The heads all pass :func:`cascades`. Each output has exactly the size its step
    gives alone (computed from the photo's own size); only the resampling source
    differs, as in a hand-written script that resizes from the largest down.
    """
    img = as_image(value)
    w, h = img.size
    targets = [want(name, dict(args), w, h) for name, args in heads]
    img = share(img, heads)
    made: list[Any] = [None] * len(heads)
    for i in sorted(range(len(heads)), key=lambda k: -targets[k][0] * targets[k][1]):
        tw, th = targets[i]
        bigger = [made[k] for k in range(len(heads)) if made[k] is not None
                  and made[k].width >= CASCADE * tw and made[k].height >= CASCADE * th]
        src = min(bigger, key=lambda im: im.width * im.height, default=img)
        made[i] = resized(src, (tw, th), resample(dict(heads[i][1]).get("filter", "bicubic")))
    return tuple(made)


def want(name: str, args: dict[str, Any], w: int, h: int) -> tuple[int, int]:
    """The pixels of a ``w`` x ``h`` image a branch's first step asks the decoder for."""
    if name == "image.thumbnail":
        size = args["size"]
        bw, bh = (size, size) if isinstance(size, int) else size
        return thumbnail_size(w, h, bw, bh) or (w, h)
    if name != "image.resize":
        return w, h
    width, height, fit = args.get("width"), args.get("height"), args.get("fit", "contain")
    if width is None or height is None:
        width = width or max(1, round(w * height / h))
        height = height or max(1, round(h * width / w))
        return width, height
    if fit == "stretch":
        return width, height
    if fit == "cover":
        x0, y0, x1, y1 = cover_box(w, h, width, height)
        return math.ceil(width * w / (x1 - x0)), math.ceil(height * h / (y1 - y0))
    return contain_size(w, h, width, height)
