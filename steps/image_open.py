"""Opening image files safely: the one error type, lazy open, a checked decode.

Pillow is imported inside the functions: ``flow validate`` imports the step
modules to read their schemas and must not pay for Pillow.
"""

from __future__ import annotations

import os
import re
import stat
import warnings
from typing import TYPE_CHECKING

from steps.registry import StepNotice

if TYPE_CHECKING:
    from PIL.Image import Image

DRAFTABLE = ("JPEG", "MPO")  # MPO: camera JPEGs with an embedded preview
MULTI_FRAME = "multi-frame file: first frame used"
_MAGIC = ((b"\xff\xd8", "JPEG"), (b"\x89PNG", "PNG"), (b"GIF8", "GIF"), (b"II*\x00", "TIFF"),
          (b"MM\x00*", "TIFF"), (b"BM", "BMP"), (b"RIFF", "WEBP"))


class ImageError(ValueError):
    """A bad image file, or an image a step cannot take. The message is one line."""


# ---------------------------------------------------------------- opening

def open_path(path: str | os.PathLike[str]) -> Image:
    """Open an image file lazily (header only), refusing what cannot be trusted.

    Decompression bombs (over ``Image.MAX_IMAGE_PIXELS``, where Pillow itself only
    warns, up to 2x) are refused before any pixel is decoded. Multi-frame files give
    their first frame and a :class:`StepNotice`.
    """
    from PIL import Image, UnidentifiedImageError

    p = os.fspath(path)
    try:
        fd = _regular_file(p)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img = _open_by_name_first(_by_descriptor(p, fd), p)
                img.filename = p  # steps see the name the user gave, not /proc/self/fd/N
        finally:
            os.close(fd)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(_bomb_reason(str(exc))) from None
    except ImageError:
        raise  # not a regular file
    except FileNotFoundError:
        raise ImageError("file not found") from None
    except IsADirectoryError:
        raise ImageError("a folder, not an image file") from None
    except PermissionError:
        raise ImageError("permission denied") from None
    except UnidentifiedImageError:
        raise ImageError(_unidentified(p)) from None
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow plugins raise many kinds on bad headers
        raise ImageError(f"broken {_guess(p) or 'image'} header: {one_line(exc)}") from None
    _check_header(img)
    if img.format not in DRAFTABLE and _animated(img):
        warnings.warn(StepNotice(MULTI_FRAME), stacklevel=2)
    return img


def _open_by_name_first(name: str, path: str) -> Image:
    """``Image.open``, the file read as the format its extension names where it is one.

    Pillow tries its plugins in the order they were loaded; in a fresh process the
    extension's plugin comes first, but in a worker that has opened other kinds of
    file, a plugin with a loose check may claim the file first (an .ico read as TGA
    after a .tga: "cannot load this image"). ``Image.open`` has by then loaded the
    extension's plugin, so asking it again costs nothing when the answers agree.
    """
    from PIL import Image, UnidentifiedImageError

    img = Image.open(name)  # ``name`` reaches the file; ``path`` is what the user named it
    fmt = Image.EXTENSION.get(os.path.splitext(path)[1].lower())
    if fmt is None or fmt == img.format or fmt not in Image.OPEN or (
            fmt in DRAFTABLE and img.format in DRAFTABLE):
        return img
    try:
        named = Image.open(name, formats=[fmt])
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return img  # the extension lies: the first answer stands
    img.close()
    return named


def _animated(img: Image) -> bool:
    """Whether ``img`` has frames past the first; a broken frame table counts as none
    (a PSD's layers are read only here: its composite image may be fine)."""
    try:
        return bool(getattr(img, "is_animated", False))
    except Exception:  # noqa: BLE001 - plugins raise many kinds on a bad frame table
        return False


def _regular_file(path: str) -> int:
    """An open descriptor of ``path``, refused (ImageError) unless it is a regular file.

    Checked on the descriptor itself, so a file swapped for a FIFO or a device after
    the glob is caught here; opened with O_NONBLOCK, which never waits for a FIFO's
    writer (a plain open would wait for ever).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        os.close(fd)
        raise
    if stat.S_ISREG(mode):
        return fd
    os.close(fd)
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(path)
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    raise ImageError("not a regular file (" + next(
        (name for test, name in kinds if test(mode)), "not a file") + ")")


def _by_descriptor(path: str, fd: int) -> str:
    """A name that reaches the very file ``fd`` holds (not whatever ``path`` names
    now); Pillow opens it, and closes it once the pixels are read."""
    link = f"/proc/self/fd/{fd}"
    return link if os.path.exists(link) else path


def _check_header(img: Image) -> None:
    from PIL import Image as PILImage

    w, h = img.size
    if w <= 0 or h <= 0:
        raise ImageError(f"broken header: {w}x{h} pixels")
    limit = PILImage.MAX_IMAGE_PIXELS
    # Belt and braces: the warning filter above is process-global state a thread
    # (a Dask worker) could race on; this check holds regardless.
    if limit and w * h > limit:
        raise ImageError(_bomb_reason(f"({w * h} pixels)"))


def _bomb_reason(message: str) -> str:
    from PIL import Image

    found = re.search(r"\((\d+) pixels\)", message)
    size = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
    return (f"refused as a possible decompression bomb: {size}, over Pillow's limit of "
            f"{Image.MAX_IMAGE_PIXELS:,}")


def _head(path: str, n: int = 64) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError:
        return b""


def _guess(path: str) -> str | None:
    head = _head(path, 8)
    return next((fmt for magic, fmt in _MAGIC if head.startswith(magic)), None)


def _unidentified(path: str) -> str:
    head = _head(path)
    if not head:
        return "empty file"
    fmt = _guess(path)
    if fmt:
        return f"broken {fmt} header: cannot identify the image"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text and all(c.isprintable() or c.isspace() for c in text):
        return "a text file, not an image"
    return "not an image, or a format Pillow cannot read"


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (at most 200 characters), for a reason."""
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__


def loaded(img: Image) -> Image:
    """``img`` with its pixels decoded; a truncated or corrupt file raises ImageError.

    ``ImageFile.LOAD_TRUNCATED_IMAGES`` stays False, so a file that ends early fails
    here instead of being padded with grey. Cheap when already loaded.
    """
    if getattr(img, "tile", None) or _loads_itself(img):
        try:
            img.load()
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - decoders raise OSError, SyntaxError...
            _release(img)
            msg = one_line(exc)
            if "truncated" in msg.lower():
                raise ImageError("truncated image data: the file ends before the "
                                 "picture does") from None
            raise ImageError(f"corrupt image data: {msg}") from None
        if getattr(img, "_fp", None) is not None or getattr(img, "fp", None) is not None:
            _release(img)  # multi-frame files (and ICO) keep theirs open; we never seek
    return img


def _loads_itself(img: Image) -> bool:
    """A file whose plugin decodes without tiles (ICO, ICNS) and has not yet."""
    from PIL import ImageFile

    return (isinstance(img, ImageFile.ImageFile) and getattr(img, "fp", None) is not None
            and type(img).load is not ImageFile.ImageFile.load)


def _release(img: Image) -> None:
    """Close the file behind ``img``, keeping its decoded pixels (the ``with`` exit)."""
    try:
        img.__exit__(None, None, None)
    except Exception:  # noqa: BLE001 - closing is a courtesy
        pass
