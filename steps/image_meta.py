"""What an image carries besides pixels: its colour profile, EXIF and XMP, and what a save keeps.

The profile and metadata ride in ``img.info`` (``icc_profile``, ``exif``, ``xmp``) from
the file that was opened through every step (Pillow copies ``info`` with the pixels;
steps that build a new image copy it with :func:`carry`), and through spills. When
the image is written, :func:`metadata_params` turns the ``metadata`` policy into
Pillow's save parameters:

- ``keep`` (default): the ICC profile, all EXIF (camera, dates, GPS, copyright), XMP,
  a JPEG comment and the DPI; the EXIF orientation is what the pixels need (1 after
  ``image.auto_orient``) and the EXIF pixel sizes are the written ones.
- ``minimal``: the ICC profile and the EXIF copyright only.
- ``strip``: nothing at all, the ICC profile included.

Under ``minimal`` and ``strip`` an orientation other than 1 is still written: without
it the picture would show turned on its side (``image.auto_orient`` first makes it
upright and then nothing is left).
Pillow is imported inside the functions, as everywhere in ``steps/``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Exif, Image

POLICIES = ("keep", "strip", "minimal")
ORIENTATION = 0x0112
COPYRIGHT = 0x8298
_EXIF_IFD = 0x8769
_PIXEL_SIZE = (0xA002, 0xA003)  # PixelXDimension, PixelYDimension in the Exif IFD
_XMP_TAG = 700  # TIFF keeps XMP as a tag of its own
# The image modes an ICC profile's colour space (header bytes 16-20) describes.
_SPACES = {b"RGB ": {"RGB", "RGBA", "RGBX", "RGBa", "P", "PA"},
           b"GRAY": {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"},
           b"CMYK": {"CMYK"}}
# What each format's files can hold, as Pillow writes them.
_HOLDS_ICC = {"JPEG", "PNG", "WEBP", "AVIF", "TIFF"}
_HOLDS_EXIF = {"JPEG", "PNG", "WEBP", "AVIF", "TIFF"}
_XMP_PARAM = {"JPEG", "WEBP", "AVIF"}  # PNG takes it as an iTXt chunk, TIFF as a tag


def profile_space(icc: bytes | None) -> str | None:
    """The colour space an ICC profile describes ("RGB", "GRAY", "CMYK"...), or None."""
    if not icc or len(icc) < 128:
        return None
    return icc[16:20].decode("latin-1").strip() or None


def profile_fits(icc: bytes | None, mode: str) -> bool:
    """Whether an ICC profile describes pixels of ``mode`` (an RGB profile on L does not)."""
    return bool(icc) and mode in _SPACES.get(bytes(icc[16:20]), ())  # type: ignore[index]


def carry(src: Image, out: Image) -> Image:
    """``out`` with ``src``'s profile and metadata where a step built a new image."""
    out.info = {**src.info, **out.info}
    return out


def orientation(img: Image, header_only: bool = False) -> int:
    """The EXIF orientation (1-8) the image's file says; 1 when there is none.

    ``header_only``: never decode to find out. Pillow reads a PNG's EXIF chunk that
    comes after the pixels only by decoding them; such a PNG then counts as upright.
    """
    if header_only and img.format == "PNG" and "exif" not in img.info:
        return 1
    try:
        turn = img.getexif().get(ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - unreadable EXIF means no orientation
        return 1
    return turn if isinstance(turn, int) and 1 <= turn <= 8 else 1


def set_upright(img: Image) -> Image:
    """Record orientation 1 in ``img``'s EXIF (its pixels are upright now); returns it."""
    exif = _exif(img)
    if exif is not None:
        exif[ORIENTATION] = 1
        img.info["exif"] = exif.tobytes()
    return img


def _exif(img: Image) -> Exif | None:
    """A fresh copy of the EXIF the image came with, or None (TIFF tags are not EXIF)."""
    raw = img.info.get("exif")
    if not raw:
        return None
    from PIL import Image as PILImage

    exif = PILImage.Exif()
    try:
        exif.load(raw)
    except Exception:  # noqa: BLE001 - a broken EXIF block is dropped, not fatal
        return None
    return exif


def _kept_exif(img: Image, out: Image, policy: str) -> Exif | None:
    """The EXIF to write under ``policy`` (None: write none)."""
    from PIL import Image as PILImage

    exif = _exif(img)
    if policy == "keep":
        if exif is None:
            return None
        sub = exif.get_ifd(_EXIF_IFD)
        for tag, size in zip(_PIXEL_SIZE, out.size, strict=True):
            if tag in sub:  # the size the file now has, not the camera's
                sub[tag] = size
        return exif
    kept = PILImage.Exif()
    if policy == "minimal" and exif is not None and COPYRIGHT in exif:
        kept[COPYRIGHT] = exif[COPYRIGHT]
    turn = orientation(img)
    if turn != 1:  # without it the picture would show turned
        kept[ORIENTATION] = turn
    return kept if len(kept) else None


def _xmp(img: Image) -> bytes | None:
    xmp = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp")
    return xmp.encode("utf-8") if isinstance(xmp, str) else xmp or None


def metadata_params(img: Image, out: Image, fmt: str, policy: str = "keep"
                    ) -> tuple[Image, dict[str, Any]]:
    """Pillow save parameters that write ``img``'s profile and metadata under ``policy``.

    ``out`` is the image about to be written (``img`` in a mode ``fmt`` stores). Keys
    that Pillow would otherwise copy from ``out.info`` on its own (a PNG's or TIFF's
    profile, a JPEG comment) are set explicitly, so a policy that drops them does.
    Returns the image to write (a TIFF opened from a file is copied under ``strip`` and
    ``minimal``, because Pillow re-writes the tags it was opened with) and the params.
    """
    params: dict[str, Any] = {}
    icc = img.info.get("icc_profile")
    if fmt in _HOLDS_ICC:
        keep = policy != "strip" and profile_fits(icc, out.mode)
        params["icc_profile"] = icc if keep else None
    if policy != "keep" and getattr(out, "tag_v2", None) is not None:
        out = out.copy()
    if fmt == "JPEG" and policy != "keep":
        params["comment"] = b""
    if fmt not in _HOLDS_EXIF:
        return out, params
    exif = _kept_exif(img, out, policy)
    xmp = _xmp(img) if policy == "keep" else None
    if policy == "keep" and img.info.get("dpi"):
        params["dpi"] = img.info["dpi"]
    if fmt == "TIFF":
        if xmp:
            from PIL import Image as PILImage

            exif = exif if exif is not None else PILImage.Exif()
            exif[_XMP_TAG] = xmp
        if exif is not None:
            params["exif"] = exif
        return out, params
    if exif is not None:
        params["exif"] = exif.tobytes()
    if xmp and fmt in _XMP_PARAM:
        params["xmp"] = xmp
    elif xmp and fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8", "replace"))
        params["pnginfo"] = info
    return out, params
