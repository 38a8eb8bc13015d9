"""``image.to_srgb``: pixels from the embedded colour profile to sRGB, for the web.

A photo tagged Adobe RGB or ProPhoto RGB looks dull and wrong wherever its profile
is ignored (many browsers for some formats, most thumbnails, every viewer once a
tool strips the profile). Converting to sRGB with the profile (LittleCMS, through
Pillow's ImageCms) makes it look the same everywhere. Pillow is imported inside
the functions, as everywhere in ``steps/``.
"""

from __future__ import annotations

import io
import warnings
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from steps.image_meta import profile_fits, profile_space
from steps.image_open import ImageError, loaded
from steps.image_ops import WIDE, as_image, smooth, to_8bit
from steps.registry import StepNotice, step

if TYPE_CHECKING:
    from PIL.Image import Image
    from PIL.ImageCms import ImageCmsTransform

INTENTS = ("perceptual", "relative", "saturation", "absolute")
_SRGB_SCHEMA = {
    "type": "object",
    "properties": {
        "intent": {"type": "string", "enum": list(INTENTS), "default": "perceptual",
                   "description": "how colours outside sRGB are brought in: perceptual "
                                  "(default) or relative (colorimetric), saturation, "
                                  "absolute; photo profiles mostly treat the first two alike"},
        "embed": {"type": "boolean", "default": True,
                  "description": "tag the converted image with an sRGB profile (default "
                                 "true); false leaves it untagged, which viewers read as sRGB"},
    },
    "examples": [{}, {"intent": "relative", "embed": False}],
}


@lru_cache(maxsize=1)
def srgb_profile() -> bytes:
    """LittleCMS's built-in sRGB profile as ICC bytes (about 600 bytes)."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@lru_cache(maxsize=16)
def _transform(icc: bytes, mode: str, intent: str) -> ImageCmsTransform:
    """A LittleCMS transform from ``icc`` (pixels of ``mode``) to sRGB, built once per process.

    Building one costs about a millisecond; a run converts many photos from the same few
    profiles. NOCACHE: the one-pixel cache inside a transform is not safe to share
    between threads (a Dask worker's).
    """
    from PIL import ImageCms

    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (OSError, ImageCms.PyCMSError):
        raise ImageError("the embedded colour profile cannot be read") from None
    dst = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return ImageCms.buildTransform(src, dst, mode, "RGB",
                                   renderingIntent=ImageCms.Intent(INTENTS.index(intent)),
                                   flags=ImageCms.Flags.NOCACHE)


def srgb(img: Image, intent: str = "perceptual", embed: bool = True) -> Image:
    """``img`` converted from its embedded profile to sRGB (RGB, or RGBA keeping alpha).

    Without a profile the image is taken to be sRGB already and comes back as it is
    (a CMYK one gets Pillow's plain conversion). A profile that does not describe
    the pixels (an RGB profile on a grey image) is dropped, with a notice.
    """
    icc = img.info.get("icc_profile")
    if not icc:
        return img if img.mode != "CMYK" else loaded(img).convert("RGB")
    img = smooth(loaded(img))
    if img.mode in WIDE:
        img = to_8bit(img)  # LittleCMS in Pillow converts 8-bit pixels
    if img.mode == "F":
        raise ImageError("image.to_srgb cannot convert a float image (mode F); "
                         "use image.convert first")
    alpha = img.getchannel("A") if img.mode in ("RGBA", "LA") else None
    colour = img.convert(img.mode[:-1]) if alpha is not None else img
    if colour.mode == "RGBX":
        colour = colour.convert("RGB")
    info = {k: v for k, v in img.info.items() if k not in ("icc_profile", "transparency")}
    if not profile_fits(icc, colour.mode):
        warnings.warn(StepNotice(f"image.to_srgb: a {profile_space(icc) or 'broken'} colour "
                                 f"profile on a {colour.mode} image was dropped"), stacklevel=2)
        out = colour.copy()
    else:
        from PIL import ImageCms

        out = ImageCms.applyTransform(colour, _transform(bytes(icc), colour.mode, intent))
        assert out is not None  # applyTransform returns None only when in place
        if embed:
            info["icc_profile"] = srgb_profile()
    if alpha is not None:
        out.putalpha(alpha)
    out.info = info
    return out


@step("image.to_srgb", drops=False, schema=_SRGB_SCHEMA, takes="image", gives="image")
def to_srgb(value: Any, intent: str = "perceptual", embed: bool = True) -> Image:
    """Convert from the embedded colour profile (Adobe RGB, ProPhoto, CMYK...) to sRGB.

    For web output: the photo then looks the same in every browser and viewer. Images
    without a profile are taken as sRGB and pass unchanged; transparency is kept.
    """
    return srgb(as_image(value), intent, embed)
