"""The new image steps through the real `flow` command: run in serial and local modes on the
odd images, listed by `flow steps NAME`, and the overlay file checked when validating."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.photo_kit import ADOBE_RGB, MODES, camera_jpeg, corpus_photos, matrix_profile

NEW_STEPS = ("image.to_srgb", "image.flatten", "image.pad", "image.overlay", "image.text",
             "image.filter")
ODD = ("good_landscape", "cmyk", "gray16", "palette_alpha", "exif_rotated", "rgba")

WORKFLOW = """\
flow: 1
name: newsteps
{defaults}inputs:
  photos: {{glob: "photos/*"}}
steps:
  - id: wide
    from: photos
    uses: image.filter
    with: {{orientation: landscape, min_width: 64}}
  - id: save-wide
    uses: image.save
    with: {{to: "wide/{{stem}}.png"}}
  - id: orient
    from: photos
    uses: image.auto_orient
  - id: srgb
    from: orient
    uses: image.to_srgb
  - id: flat
    uses: image.flatten
    with: {{background: "#ff0000"}}
  - id: save-flat
    uses: image.save
    with: {{to: "flat/{{stem}}.jpg"}}
  - id: framed
    from: orient
    uses: image.pad
    with: {{width: 1000, height: 1000, color: white}}
  - id: save-framed
    uses: image.save
    with: {{to: "framed/{{stem}}.png"}}
  - id: marked
    from: orient
    uses: image.overlay
    with: {{image: brand/logo.png, position: top-left, scale: 0.25}}
  - id: captioned
    uses: image.text
    with: {{text: "(c) flow", size: 12, position: bottom-right, outline: black}}
  - id: save-marked
    uses: image.save
    with: {{to: "marked/{{stem}}.png"}}
"""


def _dask_missing() -> bool:
    import importlib.util

    return importlib.util.find_spec("distributed") is None


@pytest.mark.parametrize("mode", [*MODES, pytest.param("dask", marks=pytest.mark.skipif(
    _dask_missing(), reason="Dask is not installed (pip install '.[dask]')"))])
def test_new_steps_run_on_odd_images(tmp_path, flow, mode):
    photos = corpus_photos(tmp_path, *ODD)
    camera_jpeg(tmp_path / "photos" / "adobe.jpg", (160, 80), icc=matrix_profile(ADOBE_RGB))
    (tmp_path / "brand").mkdir()
    Image.new("RGBA", (40, 40), (0, 0, 255, 255)).save(tmp_path / "brand" / "logo.png")
    defaults = "defaults: {parallel: {mode: serial}}\n" if mode == "serial" else ""
    (tmp_path / "wf.yaml").write_text(WORKFLOW.format(defaults=defaults))
    executor = ["--executor", "dask"] if mode == "dask" else []
    res = flow("run", "wf.yaml", "--no-live", *executor)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"({mode if mode == 'dask' else 'local'})" in res.stdout.splitlines()[0]
    stems = {p.stem for p in photos.values()} | {"adobe"}
    # filter: landscape as shown and at least 64 wide; adobe.jpg is 160x80 stored,
    # orientation 6: shown 80x160, portrait.
    assert {p.stem for p in (tmp_path / "wide").iterdir()} == {
        "good_landscape", "cmyk", "rgba", "palette_alpha", "gray16"}
    for folder in ("flat", "framed", "marked"):
        assert {p.stem for p in (tmp_path / folder).iterdir()} == stems, folder
    with Image.open(tmp_path / "flat" / "rgba.jpg") as im:  # transparent top: red
        r, g, b = im.convert("RGB").getpixel((32, 0))
        assert r > 200 and g < 60 and b < 60
    with Image.open(tmp_path / "framed" / "exif_rotated.png") as im:
        assert im.size == (1000, 1000)
        assert im.convert("RGB").getpixel((0, 0)) == (255, 255, 255)
        r, g, _ = im.convert("RGB").getpixel((500 - 20 + 35, 500 - 40 + 5))
        assert r > 200 and g < 60  # the red block, top-right: upright
    with Image.open(tmp_path / "marked" / "good_landscape.png") as im:
        assert im.getpixel((5, 5)) == (0, 0, 255)  # the logo, a quarter of 640 wide
        assert im.getpixel((165, 165)) != (0, 0, 255)
    with Image.open(tmp_path / "marked" / "adobe.png") as im:
        assert im.size == (80, 160)
        assert im.info.get("icc_profile") == matrix_profile(ADOBE_RGB)
        assert im.getexif().get(0x0110) == "Flowcam X100"


def test_overlay_file_is_checked_when_validating(tmp_path, flow):
    (tmp_path / "photos").mkdir()
    (tmp_path / "wf.yaml").write_text("""\
flow: 1
name: marks
inputs:
  photos: {glob: "photos/*.jpg", allow_empty: true}
steps:
  - id: mark
    from: photos
    uses: image.overlay
    with:
      image: brand/missing.png
      position: bottom-right
""")
    for command in ("validate", "run"):
        res = flow(command, "wf.yaml")
        assert res.returncode == 2
        assert "wf.yaml:10:14: error: steps[0].with.image: file not found: " \
               "'brand/missing.png'" in res.stderr, res.stderr
        assert "Traceback" not in res.stderr
    (tmp_path / "brand" / "missing.png").mkdir(parents=True)
    res = flow("validate", "wf.yaml")
    assert "a folder, not a file: 'brand/missing.png'" in res.stderr


def test_overlay_file_is_found_from_the_working_directory(tmp_path, flow):
    """--workdir elsewhere: the file is looked up (and read by the workers) there."""
    work = tmp_path / "job"
    corpus_photos(work, "good_wide")
    (work / "brand").mkdir()
    Image.new("RGB", (10, 10), (0, 255, 0)).save(work / "brand" / "logo.png")
    (tmp_path / "wf.yaml").write_text("""\
flow: 1
name: marks
inputs:
  photos: {glob: "photos/*.jpg"}
steps:
  - id: mark
    from: photos
    uses: image.overlay
    with: {image: brand/logo.png, position: top-left}
  - id: save
    uses: image.save
    with: {to: "out/{stem}.png"}
""")
    res = flow("run", "wf.yaml", "--workdir", "job", "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    with Image.open(work / "out" / "good_wide.png") as im:
        assert im.getpixel((2, 2)) == (0, 255, 0)


@pytest.mark.parametrize("name", NEW_STEPS)
def test_flow_steps_shows_each_new_step_with_its_arguments(flow, name):
    from steps.registry import load_registry

    sd = load_registry()[name]
    res = flow("steps", name)
    assert res.returncode == 0, res.stderr
    flat = " ".join(res.stdout.split())  # descriptions wrap at the terminal's width
    assert flat.startswith(f"{name} {' '.join(sd.description.split())}")
    assert "map step:" in res.stdout
    assert len(sd.description) > 20
    for arg, spec in sd.schema["properties"].items():
        assert len(spec["description"]) > 10, (name, arg)
        assert f"\n  {arg} " in res.stdout, (name, arg)
        assert " ".join(spec["description"].split()).lower()[:40] in flat.lower(), (name, arg)
    assert sd.schema.get("examples"), name
    listed = flow("steps")
    assert name in listed.stdout
