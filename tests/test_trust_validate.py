"""What `flow validate` and `flow run` refuse before anything is written, through the
`flow` command on real files: a path many items (or two steps) would write, an output
suffix that contradicts its format, a glob that matches nothing (and why), inputs the
outputs would overwrite, outputs leaving the working directory through a sibling folder,
and a misspelt step id in `from:`."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import make_photos, run_flow

HEAD = """\
flow: 1
name: trust
inputs:
  photos: {glob: "photos/*.jpg"}
steps:
"""


def write(folder: Path, steps: str, head: str = HEAD, name: str = "wf.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(head + steps)
    return path


def save_step(to: str, extra: str = "") -> str:
    """One image.save step from the photos, writing ``to`` (``extra``: more arguments)."""
    return f"""\
  - id: save
    from: photos
    uses: image.save
    with: {{to: "{to}"{extra}}}
"""


def headlines(stderr: str) -> list[str]:
    """The error lines (``file:line:col: error: ...``), without snippets and hints."""
    return [line for line in stderr.splitlines() if ": error: " in line]


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


# ---------------------------------------------------------------- many items, one path

@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_fixed_path_after_a_glob_is_refused(tmp_path, flow, photos, command):
    write(tmp_path, save_step("out/all.jpg"))
    res = flow(command, "wf.yaml")
    assert res.returncode == 2, res.stdout + res.stderr
    assert headlines(res.stderr) == [
        "wf.yaml:9:16: error: steps[0].with.to: every item of step 'save' would write "
        "out/all.jpg (its items come from input 'photos', a glob: many items)"]
    assert "{stem}" in res.stderr  # the hint says how to make it per item
    assert not (tmp_path / "out").exists()


def test_a_fixed_path_after_a_filter_is_still_many(tmp_path, flow, photos):
    write(tmp_path, """\
  - id: wide
    from: photos
    uses: image.filter
    with: {orientation: landscape}
  - id: save
    uses: image.save
    with: {to: out/wide.jpg}
""")
    res = flow("validate", "wf.yaml")
    assert res.returncode == 2
    assert headlines(res.stderr) == [
        "wf.yaml:12:16: error: steps[1].with.to: every item of step 'save' would write "
        "out/wide.jpg (its items come from input 'photos', a glob: many items)"]


def test_a_fixed_path_after_a_reduce_or_one_named_file_is_fine(tmp_path, flow, photos):
    write(tmp_path, """\
  - id: sheet
    from: photos
    uses: image.contact_sheet
    with: {to: out/sheet.jpg, tile: 32}
  - id: copy
    uses: image.save
    with: {to: out/sheet.png}
  - id: first
    from: one
    uses: image.save
    with: {to: out/first.png}
""", head=HEAD.replace("inputs:\n", "inputs:\n  one: {glob: photos/photo_00.jpg}\n"))
    assert flow("validate", "wf.yaml").returncode == 0
    res = flow("run", "wf.yaml", "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    assert files_under(tmp_path / "out") == ["first.png", "sheet.jpg", "sheet.png"]


def test_two_steps_writing_one_fixed_path_are_refused(tmp_path, flow):
    write(tmp_path, """\
  - id: total
    from: nums
    uses: numeric.sum
  - id: write-total
    uses: io.write
    with: {to: out/result.json}
  - id: mean
    from: nums
    uses: numeric.mean
  - id: write-mean
    uses: io.write
    with: {to: "./out/result.json"}
""", head=HEAD.replace('photos: {glob: "photos/*.jpg"}', "nums: {values: [1, 2, 3]}"))
    for command in ("validate", "run"):
        res = flow(command, "wf.yaml")
        assert res.returncode == 2, res.stdout + res.stderr
        assert headlines(res.stderr) == [
            "wf.yaml:17:16: error: steps[3].with.to: step 'write-mean' would write "
            "out/result.json, which step 'write-total' (line 11) also writes"]
    assert not (tmp_path / "out").exists()


def test_a_fixed_path_that_an_item_also_writes_is_refused_by_run(tmp_path, flow, photos):
    write(tmp_path, """\
  - id: save
    from: photos
    uses: image.save
    with: {to: "out/{stem}.jpg"}
  - id: sheet
    from: photos
    uses: image.contact_sheet
    with: {to: out/photo_01.jpg, tile: 32}
""")
    res = flow("run", "wf.yaml")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "photos/photo_01.jpg would write out/photo_01.jpg, which steps.sheet.with.to also " \
           "writes" in res.stderr
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- suffix and format

@pytest.mark.parametrize(("to", "extra", "reason"), [
    ("out/{name}", ", format: png", "out/photo_00.jpg: its suffix .jpg means JPEG, but format "
                                    "is png; make them agree"),
    ("out/{stem}", "", "out/photo_00: cannot tell the image format from a name without "
                       "suffix; give 'format'"),
])
def test_a_suffix_a_field_brings_is_checked_per_item_before_writing(
        tmp_path, flow, photos, to, extra, reason):
    write(tmp_path, save_step(to, extra))
    assert flow("validate", "wf.yaml").returncode == 0  # the suffix is known per item only
    res = flow("run", "wf.yaml", "--no-live")
    assert res.returncode == 2, res.stdout + res.stderr
    lines = headlines(res.stderr)
    assert lines[0] == ("wf.yaml:6:5: error: steps.save.with.to: photos/photo_00.jpg would "
                        f"write {reason}")
    assert len(lines) == 2 and "and 5 more items" in lines[1]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("to", "extra", "message"), [
    ("out/{stem}.jpg", ", format: png", "output 'out/{stem}.jpg': its suffix .jpg means "
                                        "JPEG, but format is png; make them agree"),
    ("out/{stem}.TIF", ", format: jpeg", "output 'out/{stem}.TIF': its suffix .TIF means "
                                         "TIFF, but format is jpeg; make them agree"),
    ("out/{stem}.xyz", "", "output 'out/{stem}.xyz': cannot tell the image format from "
                           "'.xyz'; give 'format'"),
    ("out/{index}.d/sheet", "", "output 'out/{index}.d/sheet': cannot tell the image "
                                "format from a name without suffix; give 'format'"),
])
def test_a_suffix_in_the_template_is_checked_by_validate(tmp_path, flow, to, extra, message):
    write(tmp_path, save_step(to, extra))
    res = flow("validate", "wf.yaml")
    assert res.returncode == 2
    assert headlines(res.stderr) == [f"wf.yaml:9:16: error: steps[0].with.to: {message}"]


def test_a_contact_sheet_with_an_unknown_suffix_is_refused_by_validate(tmp_path, flow):
    write(tmp_path, """\
  - id: sheet
    from: photos
    uses: image.contact_sheet
    with: {to: out/sheet.sheet}
""")
    res = flow("validate", "wf.yaml")
    assert res.returncode == 2
    assert headlines(res.stderr) == [
        "wf.yaml:9:16: error: steps[0].with.to: output 'out/sheet.sheet': cannot tell the "
        "image format from '.sheet'; give 'format'"]


def test_format_decides_an_unknown_suffix_and_the_suffix_decides_without_format(
        tmp_path, flow, photos):
    write(tmp_path, """\
  - id: thumb
    from: photos
    uses: image.save
    with: {to: "out/{stem}.thumb", format: png}
  - id: web
    from: photos
    uses: image.save
    with: {to: "out/{stem}.webp"}
  - id: same
    from: photos
    uses: image.save
    with: {to: "out/{stem}.jpeg", format: jpeg}
""")
    res = flow("run", "wf.yaml", "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    with Image.open(tmp_path / "out/photo_00.thumb") as a, \
            Image.open(tmp_path / "out/photo_00.webp") as b, \
            Image.open(tmp_path / "out/photo_00.jpeg") as c:
        assert (a.format, b.format, c.format) == ("PNG", "WEBP", "JPEG")


# ---------------------------------------------------------------- a glob without a match

def test_a_glob_that_matches_only_in_another_case_says_matching_is_case_sensitive(
        tmp_path, flow, photos):
    write(tmp_path, "  - {id: save, from: photos, uses: image.save, with: "
                    "{to: 'out/{stem}.png'}}\n",
          head=HEAD.replace("photos/*.jpg", "photos/*.JPG"))
    res = flow("run", "wf.yaml")
    assert res.returncode == 2
    assert headlines(res.stderr) == [
        "wf.yaml:4:18: error: inputs.photos: no file matches photos/*.JPG (matching is "
        "case-sensitive: 6 files match it in another case, such as photos/photo_00.jpg)"]
    assert f"looked in {tmp_path.resolve()}" in res.stderr or f"looked in {tmp_path}" in \
        res.stderr


def test_a_glob_that_matches_beside_the_workflow_hints_at_workdir(tmp_path):
    project = tmp_path / "project"
    make_photos(project / "photos", 2, (160, 120))
    write(project, "  - {id: save, from: photos, uses: image.save, with: "
                   "{to: 'out/{stem}.png'}}\n")
    res = run_flow("run", "project/wf.yaml", cwd=tmp_path)
    assert res.returncode == 2
    assert headlines(res.stderr) == [
        "project/wf.yaml:4:18: error: inputs.photos: no file matches photos/*.jpg"]
    hint = next(line for line in res.stderr.splitlines() if "hint:" in line)
    assert str(tmp_path) in hint  # the working directory, named
    assert "the workflow's folder has 2 matching files: add --workdir project" in hint
    assert not (project / "out").exists()


# ---------------------------------------------------------------- writing over inputs

def test_outputs_that_would_overwrite_the_inputs_name_the_step(tmp_path, flow, photos):
    write(tmp_path, """\
  - id: shrink
    from: photos
    uses: image.thumbnail
    with: {size: 32}
  - id: save
    uses: image.save
    with: {to: "photos/{stem}.jpg"}
""")
    before = {p.name: p.read_bytes() for p in (tmp_path / "photos").iterdir()}
    res = flow("run", "wf.yaml")
    assert res.returncode == 2
    assert headlines(res.stderr) == [
        "wf.yaml:4:18: error: inputs.photos: the outputs of step 'save' (line 10) would "
        "overwrite these inputs: the 6 files photos/*.jpg matches"]
    assert "write the outputs to another folder" in res.stderr
    assert {p.name: p.read_bytes() for p in (tmp_path / "photos").iterdir()} == before


# ---------------------------------------------------------------- mutants

def test_an_output_through_a_link_into_a_sibling_folder_with_the_same_prefix_is_refused(
        tmp_path):
    work, backup = tmp_path / "work", tmp_path / "work-backup"
    make_photos(work / "photos", 2, (160, 120))
    backup.mkdir()
    (work / "out").symlink_to(backup)  # work/out -> ../work-backup: outside, though
    write(work, "  - {id: save, from: photos, uses: image.save, with: "  # "work" prefixes it
                "{to: 'out/{stem}.png'}}\n")
    res = run_flow("run", "wf.yaml", cwd=work)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "escapes the working directory through a symlink: out/photo_00.png" in res.stderr
    assert list(backup.iterdir()) == []


def test_a_misspelt_step_id_in_from_gets_a_did_you_mean(tmp_path, flow):
    write(tmp_path, """\
  - {id: shrink, from: photos, uses: image.thumbnail, with: {size: 32}}
  - {id: save, from: shrnk, uses: image.save, with: {to: "out/{stem}.png"}}
""")
    res = flow("validate", "wf.yaml")
    assert res.returncode == 2
    assert headlines(res.stderr) == [
        "wf.yaml:7:22: error: steps[1].from: unknown input or step 'shrnk' "
        "(did you mean 'shrink'?)"]
