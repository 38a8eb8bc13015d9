"""Typed ``py:`` steps, through the `flow` command on real photos and real numbers.

A plain function's first parameter says what it takes: annotated as a Pillow image it
gets an opened image even placed first, as a number a number, as a path the path. Its
other parameters' annotations are its argument schema, which `flow validate` checks
against ``with:`` from the module's source, without importing it.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from tests.conftest import make_photos, run_flow

PHOTOS_HEAD = """\
flow: 1
name: typed
inputs:
  photos: {glob: "photos/*.jpg"}
steps:
"""

NUMBERS_HEAD = """\
flow: 1
name: typed
inputs:
  xs: {range: {start: 0, stop: 20}}
steps:
"""

# The items' values summed and written to total.json.
SUM_STEPS = """\
  - id: total
    uses: numeric.sum
  - id: out
    uses: io.write
    with: {to: total.json}
"""


def setup(folder: Path, module: str, steps: str, head: str = PHOTOS_HEAD) -> None:
    """``mysteps.py`` (``module``) and ``wf.yaml`` (``head`` + ``steps``) in ``folder``."""
    (folder / "mysteps.py").write_text(textwrap.dedent(module))
    (folder / "wf.yaml").write_text(head + textwrap.dedent(steps))


def brightness(path: Path) -> float:
    with Image.open(path) as im:
        return ImageStat.Stat(im.convert("L")).mean[0]


def headlines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ": error: " in line]


BRIGHTEN_STEPS = """\
  - id: brighten
    from: photos
    uses: py:mysteps:brighten
    with: {amount: 1.6}
  - id: save
    uses: image.save
    with: {to: "out/{stem}.jpg"}
"""

# The same function with its image annotation imported each usual way.
IMAGE_ANNOTATIONS = {
    "module attribute": ("from PIL import Image", "Image.Image"),
    "class imported": ("from PIL.Image import Image", "Image"),
    "full path": ("import PIL.Image", "PIL.Image.Image"),
    "module alias": ("import PIL.Image as pim", "pim.Image"),
    "renamed module": ("from PIL import Image as PILImage", "PILImage.Image"),
    "string": ("from PIL import Image", '"Image"'),
    "string attribute": ("from PIL import Image", '"Image.Image"'),
    "type checking only": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                           "    from PIL import Image", '"Image.Image"'),
}


@pytest.mark.parametrize("imports, note", IMAGE_ANNOTATIONS.values(), ids=IMAGE_ANNOTATIONS)
def test_an_image_annotated_step_first_gets_an_opened_image(tmp_path, imports, note):
    photos = make_photos(tmp_path / "photos", count=3, size=(160, 120))
    setup(tmp_path, f"""\
from __future__ import annotations

{imports}
from PIL import ImageEnhance


def brighten(img: {note}, amount: float = 1.2) -> {note}:
    return ImageEnhance.Brightness(img).enhance(amount)
""", BRIGHTEN_STEPS)
    res = run_flow("run", "wf.yaml", "--no-live", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    for photo in photos:
        out = tmp_path / "out" / photo.name
        assert brightness(out) > brightness(photo) * 1.3


def test_an_image_step_that_returns_an_unannotated_value_still_saves(tmp_path):
    # No return annotation: the image flows on to image.save all the same.
    photos = make_photos(tmp_path / "photos", count=2, size=(160, 120))
    setup(tmp_path, """\
        from PIL import Image, ImageEnhance

        def brighten(img: Image.Image, amount: float = 1.2):
            return ImageEnhance.Brightness(img).enhance(amount)
        """, BRIGHTEN_STEPS)
    res = run_flow("run", "wf.yaml", "--no-live", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert all(brightness(tmp_path / "out" / p.name) > brightness(p) * 1.3 for p in photos)


def test_an_image_annotated_step_in_a_later_stage_gets_the_image_back(tmp_path):
    # Other settings than the step above: a stage of its own, fed the image another
    # worker handed on (as a file); the step still gets an image, not that file's path.
    photos = make_photos(tmp_path / "photos", count=2, size=(160, 120))
    setup(tmp_path, """\
        from PIL import Image, ImageEnhance

        def brighten(img: Image.Image, amount: float = 1.2) -> Image.Image:
            return ImageEnhance.Brightness(img).enhance(amount)
        """, """\
  - id: upright
    from: photos
    uses: image.auto_orient
    parallel: {workers: 1}
""" + BRIGHTEN_STEPS.replace("    from: photos\n", ""))
    graph = run_flow("graph", "wf.yaml", cwd=tmp_path)
    assert "2 stages" in graph.stdout, graph.stdout + graph.stderr
    res = run_flow("run", "wf.yaml", "--no-live", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert all(brightness(tmp_path / "out" / p.name) > brightness(p) * 1.3 for p in photos)


def test_a_number_annotated_step_over_a_range(tmp_path):
    setup(tmp_path, """\
        import numbers

        def triple(n: int | float, plus: numbers.Number = 0) -> float:
            return 3 * n + plus
        """, """\
  - id: t
    from: xs
    uses: py:mysteps:triple
    with: {plus: 1}
""" + SUM_STEPS, NUMBERS_HEAD)
    res = run_flow("run", "wf.yaml", "--no-live", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads((tmp_path / "total.json").read_text()) == sum(3 * i + 1 for i in range(20))


@pytest.mark.parametrize("imports, note", [("from pathlib import Path", "Path"),
                                           ("import os", "os.PathLike"),
                                           ("", "str")])
def test_a_path_annotated_step_gets_the_path(tmp_path, imports, note):
    photos = make_photos(tmp_path / "photos", count=3, size=(160, 120))
    setup(tmp_path, f"""\
{imports}
import os


def size_of(path: {note}) -> int:
    return os.path.getsize(path)
""", """\
  - id: size
    from: photos
    uses: py:mysteps:size_of
""" + SUM_STEPS)
    res = run_flow("run", "wf.yaml", "--no-live", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads((tmp_path / "total.json").read_text()) == sum(
        p.stat().st_size for p in photos)


TYPED_MODULE = """\
from typing import Literal, Optional
import typing as t
from pathlib import Path

from PIL import Image

open("imported.txt", "w").write("flow imported this module")


def tune(img: Image.Image, amount: float = 1.2, times: int = 1, keep: bool = False,
         label: str = "", mode: Literal["soft", "hard"] = "soft",
         sizes: list[int] = [1], either: int | float = 0, maybe: Optional[int] = None,
         also: "t.Literal[1, 2]" = 1, where: Path = Path("."), **rest) -> Image.Image:
    return img


def strict(img: Image.Image, amount: float = 1.2) -> Image.Image:
    return img
"""


def validate(tmp_path: Path, with_: str, fn: str = "tune"):
    setup(tmp_path, TYPED_MODULE, f"""\
  - id: tune
    from: photos
    uses: py:mysteps:{fn}
    with: {with_}
""")
    return run_flow("validate", "wf.yaml", cwd=tmp_path)


def test_valid_arguments_of_every_annotated_type_pass(tmp_path):
    res = validate(tmp_path, '{amount: 2, times: 3, keep: true, label: x, mode: hard, '
                             'sizes: [1, 2], either: 2.5, maybe: null, also: 2, where: a/b, '
                             'extra: 1}')
    assert res.returncode == 0, res.stdout + res.stderr
    assert not (tmp_path / "imported.txt").exists()  # read with ast, never imported


@pytest.mark.parametrize("with_, says", [
    ('{amount: "lots"}', "9:18: error: steps[0].with.amount: expected a number, got 'lots'"),
    ("{times: 1.5}", "9:17: error: steps[0].with.times: expected an integer, got 1.5"),
    ("{keep: 1}", "9:16: error: steps[0].with.keep: expected true or false, got 1"),
    ("{label: 3}", "9:17: error: steps[0].with.label: expected a string, got 3"),
    ("{mode: medium}",
     "9:16: error: steps[0].with.mode: must be one of soft, hard, got 'medium'"),
    ('{sizes: [1, "x"]}', "9:21: error: steps[0].with.sizes[1]: expected an integer, got 'x'"),
    ("{either: lots}", "9:18: error: steps[0].with.either: expected a number, got 'lots'"),
    ("{maybe: 1.5}",
     "9:17: error: steps[0].with.maybe: expected an integer or nothing, got 1.5"),
    ("{also: 3}", "9:16: error: steps[0].with.also: must be one of 1, 2, got 3"),
    ("{where: 3}", "9:17: error: steps[0].with.where: expected a string, got 3"),
])
def test_a_wrong_literal_type_is_an_error_at_its_place(tmp_path, with_, says):
    res = validate(tmp_path, with_)
    assert res.returncode == 2, res.stdout + res.stderr
    lines = headlines(res.stderr)
    assert lines == [f"wf.yaml:{says}"]
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "imported.txt").exists()


def test_an_unknown_argument_is_an_error_at_its_place(tmp_path):
    res = validate(tmp_path, "{amont: 2}", fn="strict")
    assert res.returncode == 2, res.stdout + res.stderr
    assert headlines(res.stderr) == [
        "wf.yaml:9:10: error: steps[0].with: unknown argument 'amont' (did you mean 'amount'?)"]
    assert not (tmp_path / "imported.txt").exists()
