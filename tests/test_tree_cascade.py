"""Which outputs a tree makes from a larger one, and how close they are to a branch alone.

A tree whose branches all only scale makes each output from the smallest larger
output at least twice its size on both sides, and from the decode otherwise
(``steps.image_share.CASCADE``). The baseline is what flow makes for that branch
in a workflow of its own (the JPEG draft included): an output made from the decode
is pixel for pixel that; one made from a larger output is within the stated
tolerance. Outputs are saved as PNG so pixels are compared, not JPEG's re-encoding.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from tests.conftest import run_flow
from tests.test_trees import HEAD, setup

# (branch, step): on a 1200x800 photo, 600x400 and 450x300 come from the decode (600
# is not twice 450), 300x200 from 600x400 (twice), 100x67 from 300x200 (three times).
ARMS = [
    ("w600", "uses: image.resize\n    with: {width: 600}"),
    ("w450", "uses: image.resize\n    with: {width: 450, height: 450}"),
    ("w300", "uses: image.resize\n    with: {width: 300, height: 300}"),
    ("t100", "uses: image.thumbnail\n    with: {size: 100}"),
]
FROM_DECODE = {"w600", "w450"}
# The stated tolerance (README, "Several outputs from one decode"): mean under 0.5 of 255,
# no pixel more than 10 levels off. A JPEG alone is drafted at its own DCT scale (a 300 px
# output from a quarter-scale decode, in the tree from the half-scale one the 600 px needs):
# that difference comes on top, as between a drafted and a full decode (mean under 1).
TOLERANCE = {"png": (0.5, 10), "jpg": (1.0, 24)}


def arm(name: str, step: str, out: str) -> str:
    return (f"  - id: {name}\n    from: photos\n    {step}\n"
            f"  - id: save_{name}\n    uses: image.save\n"
            f"    with: {{to: \"{out}/{name}/{{stem}}.png\"}}\n")


def difference(a: Path, b: Path) -> tuple[float, int]:
    """Mean over channels and the largest difference of two images' pixels."""
    with Image.open(a) as x, Image.open(b) as y:
        assert x.size == y.size
        d = ImageChops.difference(x.convert("RGB"), y.convert("RGB"))
        return max(ImageStat.Stat(d).mean), max(hi for _, hi in d.getextrema())


@pytest.mark.parametrize("ext", ["jpg", "png"])
def test_outputs_from_the_decode_match_a_branch_alone_and_cascaded_ones_are_close(
        tmp_path, ext):
    photos = setup(tmp_path, count=3, ext=ext)
    (tmp_path / "tree.yaml").write_text(HEAD % ext + "".join(arm(n, s, "tree") for n, s in ARMS))
    graph = run_flow("graph", "tree.yaml", cwd=tmp_path)
    assert "tree of 4 branches" in graph.stdout, graph.stdout
    res = run_flow("run", "tree.yaml", "--no-live", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    for name, step in ARMS:
        (tmp_path / f"{name}.yaml").write_text(HEAD % ext + arm(name, step, "alone"))
        alone = run_flow("run", f"{name}.yaml", "--no-live", cwd=tmp_path)
        assert alone.returncode == 0, alone.stdout + alone.stderr
    for photo in photos:
        for name, _ in ARMS:
            made = tmp_path / "tree" / name / f"{photo.stem}.png"
            mean, most = difference(made, tmp_path / "alone" / name / made.name)
            print(ext, name, photo.name, f"mean {mean:.3f} max {most}")
            if name in FROM_DECODE:
                assert (mean, most) == (0, 0), (name, photo.name)
            else:
                assert mean < TOLERANCE[ext][0] and most <= TOLERANCE[ext][1], \
                    (name, photo.name, mean, most)
                assert most > 0, "made from the decode, not from a larger output"
