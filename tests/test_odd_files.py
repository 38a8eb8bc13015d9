"""Files that plain Pillow opens, orients and thumbnails are made by flow's thumbnail
chain too, at the size plain Pillow gives: odd formats and modes, made by this test
(with Pillow, and a PSD by hand), run through the real ``flow`` command in one worker
that has already opened other kinds of file."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

from PIL import Image

from tests.conftest import run_flow

SIZE = 24

WF = f"""\
flow: 1
name: odd
inputs:
  photos: {{glob: "photos/*"}}
defaults:
  parallel: {{workers: 1, chunksize: 1}}  # one warm worker takes every file, in order
steps:
  - {{id: orient, from: photos, uses: image.auto_orient}}
  - {{id: shrink, uses: image.thumbnail, with: {{size: {SIZE}}}}}
  - {{id: save, uses: image.save, with: {{to: "out/{{name}}.png"}}}}
"""

# Plain Pillow, in a fresh process per file, as a user would try it.
PLAIN = """\
import sys
from PIL import Image, ImageOps
im = ImageOps.exif_transpose(Image.open(sys.argv[1]))
im.thumbnail((int(sys.argv[2]), int(sys.argv[2])))
print(im.size[0], im.size[1])
"""


def psd_with_a_broken_layer(path: Path, size: tuple[int, int] = (40, 30)) -> None:
    """A greyscale PSD whose one layer record has a negative width: Pillow shows its
    composite image, and reads the layer table only when asked for frames."""
    w, h = size
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 1, h, w, 8, 1)  # v1, 1 channel, 8-bit grey
    layer = struct.pack(">iiii", 0, 10, h, 0)  # top, left, bottom, right: right < left
    layer += struct.pack(">HHI", 1, 0, 0)  # one channel (id 0), its data size
    layer += b"8BIMnorm" + struct.pack(">BBBB", 255, 0, 0, 0) + struct.pack(">I", 0)
    info = struct.pack(">h", 1) + layer
    layers = struct.pack(">I", len(info)) + info
    pixels = bytes((x * 6 + y * 2) % 256 for y in range(h) for x in range(w))
    path.write_bytes(header + struct.pack(">II", 0, 0) + struct.pack(">I", len(layers))
                     + layers + struct.pack(">H", 0) + pixels)


def ico_largest_first(path: Path, img: Image.Image) -> None:
    """An RGBA icon of 16, 32 and 128 pixels, its directory listing the largest first
    (as many icon tools write it; Pillow writes the smallest first)."""
    img.resize((128, 128)).save(path, sizes=[(16, 16), (32, 32), (128, 128)],
                                bitmap_format="bmp")
    data = bytearray(path.read_bytes())
    count = struct.unpack_from("<H", data, 4)[0]
    entries = [bytes(data[6 + 16 * i:22 + 16 * i]) for i in range(count)]
    data[6:6 + 16 * count] = b"".join(reversed(entries))
    path.write_bytes(bytes(data))


def odd_corpus(folder: Path) -> list[Path]:
    """Files in name order so a TGA is opened before the ICO: Pillow's TGA check also
    accepts an icon whose first entry holds 64-128 KB, if that plugin was loaded first."""
    folder.mkdir()
    rgba = Image.linear_gradient("L").resize((64, 48)).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((64, 48)))
    Image.linear_gradient("L").resize((60, 40)).convert("RGB").save(folder / "a.tga")
    ico_largest_first(folder / "b.ico", rgba)
    psd_with_a_broken_layer(folder / "c.psd")
    rgba.save(folder / "d.bmp")
    rgba.convert("P").save(folder / "e.gif", transparency=0)
    rgba.convert("LA").save(folder / "f.png")
    Image.linear_gradient("L").resize((50, 70)).convert("I;16").save(folder / "g.tif")
    rgba.save(folder / "h.webp", lossless=True)
    rgba.convert("RGB").save(folder / "i.ppm")
    rgba.resize((64, 64)).save(folder / "j.icns")
    return sorted(folder.iterdir())


def plain_size(path: Path) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", PLAIN, str(path), str(SIZE)],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    w, h = out.split()
    return int(w), int(h)


def test_odd_files_are_made_at_plain_pillows_size(tmp_path):
    files = odd_corpus(tmp_path / "photos")
    (tmp_path / "wf.yaml").write_text(WF)
    res = run_flow("run", "wf.yaml", "--no-live", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    for f in files:
        with Image.open(tmp_path / "out" / f"{f.name}.png") as made:
            assert made.size == plain_size(f), f.name
