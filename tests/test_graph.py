"""Fusing steps into stages: what `flow graph` shows and the run's table rows."""

from __future__ import annotations

from pathlib import Path

from runner.compile.build import load_workflow
from runner.plan import plan

SPEC_EXAMPLE = """\
flow: 1
name: thumbnails
params: {size: 256, out: build/thumbs}
defaults:
  parallel: {workers: auto}
  retries: 1
inputs:
  photos:
    glob: ["photos/**/*.jpg"]
steps:
  - id: orient
    from: photos
    uses: image.auto_orient
  - id: shrink
    uses: image.thumbnail
    with: {size: "${size}"}
  - id: save
    uses: image.save
    with: {to: "${out}/{stem}.jpg", quality: 85}
    %s
  - id: brightness
    from: photos
    uses: image.measure
    with: {what: brightness}
  - id: summary
    uses: numeric.stats
  - id: write
    uses: io.write
    with: {to: "${out}/summary.json"}
"""


def stages_of(tmp_path: Path, text: str):
    path = tmp_path / "wf.yaml"
    path.write_text(text)
    return plan(load_workflow(str(path), workdir=str(tmp_path))).stages


def test_spec_example_fuses_into_three_stages(tmp_path):
    stages = stages_of(tmp_path, SPEC_EXAMPLE % "")
    assert [s.label for s in stages] == ["orient→shrink→save", "brightness", "summary→write"]
    assert [s.kind for s in stages] == ["map", "map", "reduce"]
    assert [s.mode for s in stages] == ["map", "map", "async"]  # a reduce is one task
    # Pixels are opened once, in the worker, before the first image step of each stage.
    assert [s.open_before for s in stages] == [(0,), (0,), ()]
    # brightness feeds only a foldable reduce: its numbers fold per chunk in the workers.
    assert stages[1].fold == "summary" and stages[2].folded
    assert stages[0].fold is None


def test_other_parallel_settings_start_a_new_stage(tmp_path):
    stages = stages_of(tmp_path, SPEC_EXAMPLE % "parallel: {mode: map, workers: 2, chunksize: 4}")
    assert [s.label for s in stages][:2] == ["orient→shrink", "save"]
    assert stages[1].sources == (stages[0].id,)
    assert stages[1].open_before == ()  # save gets images from the stage before


def test_two_branches_from_one_image_step_fuse_into_a_tree(tmp_path):
    text = SPEC_EXAMPLE % "" + """\
  - id: gray
    from: shrink
    uses: image.grayscale
  - id: save_gray
    uses: image.save
    with: {to: "${out}/gray/{stem}.png"}
"""
    stages = stages_of(tmp_path, text)
    # Both branches run on shrink's image in the same task: no second stage, no second decode.
    assert [s.label for s in stages][0] == "orient→shrink→[save | gray→save_gray]"
    assert stages[0].branches == (2, 3) and stages[0].open_before == (0,)
