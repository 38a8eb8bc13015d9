"""Spilling: an image that must leave its worker goes to a file, losslessly and fast.

The format is flow's own: magic, a JSON header (mode, size, palette, info) and the
raw pixels. Every Pillow mode survives, writing costs one memory copy, and it is
not pickle: opening one runs no code, whoever wrote the file.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from steps.atomic import atomic_file
from steps.image_open import ImageError, loaded

if TYPE_CHECKING:
    from PIL.Image import Image

_MAGIC = b"FLOWIMG1"
SPILL_SUFFIX = ".flowimg"  # a reserved name: image.open reads these as spills


def _info_out(info: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in info.items():
        if isinstance(value, (bytes, bytearray)):
            kept[key] = {"b64": _b64(value)}
        elif isinstance(value, tuple) and all(isinstance(v, (int, float)) for v in value):
            kept[key] = {"tuple": list(value)}
        elif value is None or isinstance(value, (str, int, float, bool)):
            kept[key] = value
    return kept


def _info_in(info: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in info.items():
        if isinstance(value, dict) and "b64" in value:
            out[key] = _unb64(value["b64"])
        elif isinstance(value, dict) and "tuple" in value:
            out[key] = tuple(value["tuple"])
        else:
            out[key] = value
    return out


def spill(img: Image, directory: str) -> str:
    """Write ``img`` losslessly to a new file under ``directory``; return its path.

    The name is unique (pid and random) and the write atomic; ``image.open`` reads
    it back (it knows the ``.flowimg`` suffix).
    """
    import json

    loaded(img)
    head: dict[str, Any] = {"mode": img.mode, "size": list(img.size),
                            "info": _info_out(img.info)}
    if img.mode in ("P", "PA") and img.palette is not None:
        head["palette"] = [img.palette.mode, _b64(img.palette.tobytes())]
    header = json.dumps(head).encode()
    name = f"{os.getpid()}-{os.urandom(8).hex()}{SPILL_SUFFIX}"
    path = os.path.join(directory, name)
    # No fsync: a spill is scratch for this run only (its folder is removed at the end),
    # so it needs to be whole against a killed worker, not against a power cut.
    with atomic_file(path, "wb", sync=False) as fh:
        fh.write(_MAGIC + len(header).to_bytes(4, "big") + header)
        fh.write(img.tobytes())
    return path


def read_spill(path: str) -> Image:
    """The image :func:`spill` wrote to ``path``."""
    import json

    from PIL import Image

    with open(path, "rb") as fh:
        data = fh.read()
    if not data.startswith(_MAGIC):
        raise ImageError(f"not a flow spill file (a {SPILL_SUFFIX} name is reserved)")
    size = int.from_bytes(data[8:12], "big")
    head = json.loads(data[12:12 + size])
    img = Image.frombytes(head["mode"], tuple(head["size"]), data[12 + size:])
    if "palette" in head:
        pal_mode, pal = head["palette"]
        img.putpalette(_unb64(pal), pal_mode)
    img.info.update(_info_in(head["info"]))
    return img


def _b64(data: bytes) -> str:
    from base64 import b64encode

    return b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    from base64 import b64decode

    return b64decode(text)
