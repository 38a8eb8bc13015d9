"""Photos as cameras and editors leave them: colour profiles and EXIF, made from nothing.

``matrix_profile`` writes a small ICC v2 RGB profile (matrix/TRC: colorants, gamma
curves, white point, description, copyright) from a colour space's primaries, by hand
with ``struct``, so the tests need no profile files and no downloads. ``ADOBE_RGB`` and
``PROPHOTO_RGB`` are the two wide-gamut spaces photographers tag their photos with.
``camera_jpeg`` writes a JPEG with the EXIF a phone or camera writes (model, date, GPS,
copyright, orientation).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

D50 = (0.9642, 1.0, 0.8249)  # the ICC profile connection space's white


@dataclass(frozen=True)
class Space:
    """An RGB colour space: primaries and white as CIE xy, one gamma for all channels."""

    name: str
    red: tuple[float, float]
    green: tuple[float, float]
    blue: tuple[float, float]
    white: tuple[float, float]
    gamma: float


ADOBE_RGB = Space("Adobe RGB (1998) test profile", (0.64, 0.33), (0.21, 0.71), (0.15, 0.06),
                  (0.3127, 0.3290), 563 / 256)
PROPHOTO_RGB = Space("ProPhoto RGB test profile", (0.7347, 0.2653), (0.1596, 0.8404),
                     (0.0366, 0.0001), (0.3457, 0.3585), 461 / 256)
SRGB = Space("sRGB", (0.64, 0.33), (0.30, 0.60), (0.15, 0.06), (0.3127, 0.3290), 2.4)

# Bradford cone response, for adapting colorants to the D50 connection space.
_BRADFORD = ((0.8951, 0.2664, -0.1614), (-0.7502, 1.7135, 0.0367), (0.0389, -0.0685, 1.0296))


def _xyz(xy: tuple[float, float]) -> tuple[float, float, float]:
    x, y = xy
    return (x / y, 1.0, (1 - x - y) / y)


def _mul(a, b):
    """Matrix times matrix (3x3) or matrix times vector."""
    if isinstance(b[0], (int, float)):
        return tuple(sum(a[i][k] * b[k] for k in range(3)) for i in range(3))
    return tuple(tuple(sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3))
                 for i in range(3))


def _inv(m):
    (a, b, c), (d, e, f), (g, h, i) = m
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    return ((( e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det),
            ((f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det),
            ((d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det))


def rgb_to_xyz(space: Space) -> tuple[tuple[float, ...], ...]:
    """The linear RGB -> XYZ matrix of ``space``, relative to its own white."""
    cols = [_xyz(p) for p in (space.red, space.green, space.blue)]
    m = tuple(tuple(cols[j][i] for j in range(3)) for i in range(3))
    s = _mul(_inv(m), _xyz(space.white))
    return tuple(tuple(m[i][j] * s[j] for j in range(3)) for i in range(3))


def _to_d50(space: Space):
    white = _xyz(space.white)
    src, dst = _mul(_BRADFORD, white), _mul(_BRADFORD, D50)
    scale = ((dst[0] / src[0], 0, 0), (0, dst[1] / src[1], 0), (0, 0, dst[2] / src[2]))
    return _mul(_mul(_inv(_BRADFORD), scale), _BRADFORD)


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz_tag(xyz) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz)


def _desc_tag(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    return (b"desc\0\0\0\0" + struct.pack(">I", len(ascii_)) + ascii_
            + struct.pack(">II", 0, 0) + struct.pack(">HB", 0, 0) + b"\0" * 67)


def _text_tag(text: str) -> bytes:
    return b"text\0\0\0\0" + text.encode("ascii") + b"\0"


def _curve_tag(gamma: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256))


def matrix_profile(space: Space) -> bytes:
    """An ICC v2 display profile (RGB, XYZ connection space) for ``space``."""
    m = _mul(_to_d50(space), rgb_to_xyz(space))
    tags = [(b"desc", _desc_tag(space.name)), (b"cprt", _text_tag("No copyright, test data")),
            (b"wtpt", _xyz_tag(_xyz(space.white))),
            *[(sig, _xyz_tag(tuple(m[i][j] for i in range(3))))
              for j, sig in enumerate((b"rXYZ", b"gXYZ", b"bXYZ"))],
            *[(sig, _curve_tag(space.gamma)) for sig in (b"rTRC", b"gTRC", b"bTRC")]]
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    table, data = [struct.pack(">I", len(tags))], []
    for sig, body in tags:
        table.append(sig + struct.pack(">II", offset, len(body)))
        body += b"\0" * (-len(body) % 4)  # tags start on 4-byte boundaries
        data.append(body)
        offset += len(body)
    header = (struct.pack(">I", offset) + b"lcms" + struct.pack(">I", 0x02100000)
              + b"mntrRGB XYZ " + struct.pack(">6H", 2024, 1, 1, 0, 0, 0) + b"acsp"
              + b"\0" * 4 + struct.pack(">I", 0) + b"\0" * 8 + b"\0" * 8
              + struct.pack(">I", 0) + b"".join(_s15(v) for v in D50) + b"\0" * 4
              + b"\0" * 16 + b"\0" * 28)
    assert len(header) == 128
    return header + b"".join(table) + b"".join(data)


def convert_by_hand(rgb: tuple[int, int, int], space: Space) -> tuple[float, float, float]:
    """``rgb`` in ``space`` as sRGB 0-255 (clipped), by plain matrix arithmetic.

    Independent of LittleCMS: it checks that ``matrix_profile`` writes what it means.
    Both spaces are adapted to D50 with Bradford, as an ICC colour engine does.
    """
    lin = tuple((v / 255) ** space.gamma for v in rgb)
    xyz = _mul(_mul(_to_d50(space), rgb_to_xyz(space)), lin)
    to_srgb = _inv(_mul(_to_d50(SRGB), rgb_to_xyz(SRGB)))
    out = []
    for v in _mul(to_srgb, xyz):
        v = min(max(v, 0.0), 1.0)
        v = 12.92 * v if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055
        out.append(v * 255)
    return tuple(out)


# ---------------------------------------------------------------- camera EXIF

MODEL, COPYRIGHT, ORIENTATION = 0x0110, 0x8298, 0x0112
EXIF_IFD, GPS_IFD, DATE_TAKEN, PIXEL_X, PIXEL_Y = 0x8769, 0x8825, 0x9003, 0xA002, 0xA003
CAMERA = {"model": "Flowcam X100", "copyright": "(c) Jane Doe", "taken": "2024:05:01 10:30:00",
          "lat": (52.0, 22.0, 30.0)}
PATCH = (60, 160, 90)  # a green that Adobe RGB and ProPhoto put well away from sRGB's
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
       b'22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" '
       b'dc:rights="Jane Doe"/></rdf:RDF></x:xmpmeta>')


def camera_exif(orientation: int = 6, size: tuple[int, int] = (160, 80)) -> bytes:
    """EXIF as a camera writes it: model, copyright, orientation, date taken, size, GPS."""
    from PIL import Image

    exif = Image.Exif()
    exif[MODEL] = CAMERA["model"]
    exif[COPYRIGHT] = CAMERA["copyright"]
    exif[ORIENTATION] = orientation
    sub = exif.get_ifd(EXIF_IFD)
    sub.update({DATE_TAKEN: CAMERA["taken"], PIXEL_X: size[0], PIXEL_Y: size[1]})
    gps = exif.get_ifd(GPS_IFD)
    gps.update({1: "N", 2: CAMERA["lat"], 3: "E", 4: (4.0, 53.0, 0.0)})
    return exif.tobytes()


def camera_jpeg(path: Path, size: tuple[int, int] = (160, 80), orientation: int = 6,
                icc: bytes | None = None) -> Path:
    """A photo-like JPEG with camera EXIF and XMP (and ``icc`` embedded if given).

    Stored ``size`` with a red block top-left and a ``PATCH`` of one colour bottom-right
    (the rest is noisy); orientation 6 shows it turned clockwise.
    """

    try:
        from tests.make_corpus import photo_like
    except ImportError:  # tests/ is not a package: pytest put its folder on sys.path
        from make_corpus import photo_like

    img = photo_like(size, 4)  # with noise: not the same twice
    img.paste((255, 0, 0), (0, 0, size[0] // 4, size[1] // 4))
    img.paste(PATCH, (size[0] * 3 // 4, size[1] * 3 // 4, size[0], size[1]))
    params = {"exif": camera_exif(orientation, size), "quality": 92, "xmp": XMP}
    if icc:
        params["icc_profile"] = icc
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "JPEG", **params)
    return path


# ---------------------------------------------------------------- workflows

MODES = ("serial", "local")  # mode: serial in flow's process; the default: the local pool


def write_workflow(folder: Path, glob: str, steps: str, mode: str = "local") -> Path:
    """``folder/wf.yaml``: one input ``photos`` (``glob``) and ``steps`` (YAML list items).

    ``mode: serial`` is set for every step through ``defaults`` when asked; "local"
    leaves flow's default (the process pool).
    """
    defaults = "defaults: {parallel: {mode: serial}}\n" if mode == "serial" else ""
    path = folder / "wf.yaml"
    path.write_text(f"flow: 1\nname: photos\n{defaults}inputs:\n  photos: {{glob: \"{glob}\"}}\n"
                    f"steps:\n{steps}")
    return path


def corpus_photos(folder: Path, *keys: str) -> dict[str, Path]:
    """The corpus's ``keys`` (tests/make_corpus.py), alone in ``folder/photos``."""
    try:
        from tests.make_corpus import make_corpus
    except ImportError:  # tests/ is not a package: pytest put its folder on sys.path
        from make_corpus import make_corpus

    corpus = make_corpus(folder / "corpus")
    photos = folder / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    out = {}
    for key in keys:
        out[key] = photos / corpus[key].name
        out[key].write_bytes(corpus[key].read_bytes())
    return out
