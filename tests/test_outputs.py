"""Per-item output paths: templates, confinement to the workdir, collisions, own outputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.errors import FlowError, Pos
from runner.files.inputs import Item, expand
from runner.files.outputs import (
    OutputClaims,
    OutputPatterns,
    Resolver,
    could_write,
    fill,
)
from runner.model import GlobSource, Input

STEP = Pos("wf.yaml", 12, 9)


def photos(tmp_path: Path, *names: str) -> list[Item]:
    for name in names:
        p = tmp_path / "photos" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    src = expand(Input("photos", GlobSource(("photos/**/*.jpg",)), Pos("wf.yaml", 3, 5)),
                 str(tmp_path))
    return list(src.items())


# ---------------------------------------------------------------- fill


def test_fill_uses_the_items_fields(tmp_path):
    item = photos(tmp_path, "2023/a.jpg")[0]
    assert fill("build/{relpath}_{index}{ext}", item) == "build/2023/a_0.jpg"
    assert fill("{parent}/{stem}.png", item) == "2023/a.png"
    assert fill("n{index:03d}_{stem}.txt", Item(7, 49)) == "n007_49.txt"


def test_fill_with_an_unknown_field_is_a_flow_error():
    with pytest.raises(FlowError) as err:
        fill("{stemm}.jpg", Item(0, 1), pos=STEP, where="steps[2].with.to")
    assert str(err.value) == ("wf.yaml:12:9: error: steps[2].with.to: unknown field {stemm} in "
                              "'{stemm}.jpg' (did you mean 'stem'?)")
    with pytest.raises(FlowError, match="bad output template"):
        fill("{stem", Item(0, 1))


def test_fill_refuses_what_validation_refuses_even_unvalidated():
    for template, says in [("{stem.upper}.jpg", "{stem.upper}: attribute access is not allowed"),
                           ("{index:>9}.jpg", "format spec '>9' is not allowed"),
                           ("{stem!r}.jpg", "a conversion ('!r') is not allowed")]:
        with pytest.raises(FlowError) as err:
            fill(template, Item(0, "a"), pos=STEP, where="steps[2].with.to")
        assert str(err.value).startswith("wf.yaml:12:9: error: steps[2].with.to: "), template
        assert says in str(err.value) and repr(template) in str(err.value)


def test_the_table_of_fields_is_what_an_item_fills(tmp_path):
    from runner.files.fields import NAMES

    assert sorted(photos(tmp_path, "a.jpg")[0].fields()) == sorted(NAMES)
    assert sorted(Item(3, 1.5).fields()) == sorted(NAMES)


# ---------------------------------------------------------------- confinement


def test_paths_inside_the_workdir_become_absolute(tmp_path):
    wd = os.path.realpath(tmp_path)
    assert Resolver(str(tmp_path), False).resolve("build/a.jpg") == f"{wd}/build/a.jpg"
    assert Resolver(str(tmp_path), False).resolve("build/../b.jpg") == f"{wd}/b.jpg"
    assert Resolver(str(tmp_path), False).resolve(f"{wd}/c/d.jpg") == f"{wd}/c/d.jpg"


def test_paths_outside_the_workdir_are_refused(tmp_path):
    for path in ("../x.jpg", "build/../../x.jpg", "/tmp/elsewhere/x.jpg"):
        with pytest.raises(FlowError) as err:
            Resolver(str(tmp_path), False).resolve(path, pos=STEP, where="steps[2].with.to")
        assert str(err.value) == (f"wf.yaml:12:9: error: steps[2].with.to: output path escapes "
                                  f"the working directory: {path} (use --allow-outside)")


def test_a_symlink_in_the_output_folder_pointing_outside_is_refused(tmp_path):
    wd, outside = tmp_path / "wd", tmp_path / "outside"
    (wd / "build").mkdir(parents=True)
    outside.mkdir()
    (wd / "build/out").symlink_to(outside)
    with pytest.raises(FlowError, match="escapes the working directory through a symlink: "
                                        "build/out/new/a.jpg"):
        Resolver(str(wd), False).resolve("build/out/new/a.jpg")
    (wd / "build/file.jpg").symlink_to(outside / "file.jpg")  # the output itself a link
    with pytest.raises(FlowError, match="through a symlink"):
        Resolver(str(wd), False).resolve("build/file.jpg")
    # a link that stays inside is fine
    (wd / "build/inside").symlink_to(wd / "build")
    assert Resolver(str(wd), False).resolve("build/inside/a.jpg").endswith("/build/inside/a.jpg")


def test_allow_outside_accepts_any_path(tmp_path):
    wd = tmp_path / "wd"
    wd.mkdir()
    (wd / "out").symlink_to(tmp_path)
    r = Resolver(str(wd), allow_outside=True)
    assert r.resolve("../x.jpg") == str(tmp_path / "x.jpg")
    assert r.resolve("/tmp/elsewhere/x.jpg") == "/tmp/elsewhere/x.jpg"
    assert r.resolve("out/x.jpg") == str(wd / "out/x.jpg")


def test_a_symlinked_workdir_is_fine(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    want = os.path.realpath(tmp_path / "real") + "/build/a.jpg"
    assert Resolver(str(tmp_path / "alias"), False).resolve("build/a.jpg") == want
    # the workdir's own spelling joined onto the template, as the engine does
    alias = Resolver(str(tmp_path / "alias"), False)
    assert alias.resolve(str(tmp_path / "alias/build/a.jpg")) == want
    with pytest.raises(FlowError, match=r"escapes the working directory: \.\./x\.jpg"):
        Resolver(str(tmp_path / "alias"), False).resolve(str(tmp_path / "alias/../x.jpg"))


# ---------------------------------------------------------------- collisions


def pairs(items: list[Item], template: str, workdir: Path) -> list[tuple[Item, str]]:
    r = Resolver(str(workdir))
    return [(it, r.resolve(fill(template, it))) for it in items]


def test_two_items_writing_one_path_name_both_sources(tmp_path):
    items = photos(tmp_path, "a.jpg", "sub/a.jpg", "b.jpg")
    with pytest.raises(FlowError) as err:
        _claim(pairs(items, "build/{stem}.jpg", tmp_path), STEP, "steps[2].with.to", str(tmp_path))
    assert str(err.value) == ("wf.yaml:12:9: error: steps[2].with.to: photos/a.jpg and "
                              "photos/sub/a.jpg would both write build/a.jpg")
    # {relpath} keeps them apart
    _claim(pairs(items, "build/{relpath}.jpg", tmp_path), STEP, "steps[2].with.to", str(tmp_path))


def test_many_items_to_one_path_are_counted(tmp_path):
    items = [Item(i, i) for i in range(5)]
    with pytest.raises(FlowError, match=r"item 0 \(0\), item 1 \(1\) and 3 more would all "
                                        r"write out.txt"):
        _claim(pairs(items, "out.txt", tmp_path), STEP, "steps[0].with.to", str(tmp_path))


def test_two_steps_writing_one_path_are_caught(tmp_path):
    items = photos(tmp_path, "a.jpg", "b.jpg")
    claims = OutputClaims(str(tmp_path))
    claims.add(pairs(items, "build/{stem}.jpg", tmp_path), STEP, "steps[2].with.to")
    claims.add(pairs(items[1:], "build/{name}", tmp_path), Pos("wf.yaml", 20, 9),
               "steps[4].with.to")
    with pytest.raises(FlowError) as err:
        claims.raise_if_any()
    assert str(err.value) == ("wf.yaml:20:9: error: steps[4].with.to: photos/b.jpg would write "
                              "build/b.jpg, which steps[2].with.to also writes (for photos/b.jpg)")


# ---------------------------------------------------------------- could_write


def test_could_write_covers_what_the_templates_produce(tmp_path):
    pat = OutputPatterns.of(["build/thumbs/{stem}.jpg", "mirror/{relpath}.png",
                             "n/{index}.txt"], str(tmp_path))
    assert pat.could_write(str(tmp_path / "build/thumbs/x.jpg"))
    assert pat.could_write("build/thumbs/y.jpg")
    assert not pat.could_write("build/thumbs/sub/x.jpg")
    assert not pat.could_write("build/x.jpg")
    assert pat.could_write("mirror/a/b/c.png")
    assert not pat.could_write("mirror/a/b/c.jpg")
    assert pat.could_write("n/12.txt") and not pat.could_write("n/x.txt")


def test_a_glob_never_takes_the_workflows_own_outputs(tmp_path):
    # The outputs land inside the input tree, as after an earlier run.
    photos(tmp_path, "a.jpg", "sub/b.jpg", "thumbs/a.jpg", "thumbs/b.jpg")
    pat = OutputPatterns.of(["photos/thumbs/{stem}.jpg", "photos/summary.json"], str(tmp_path))
    src = expand(Input("photos", GlobSource(("photos/**/*",)), Pos("wf.yaml", 3, 5)),
                 str(tmp_path), skip=pat.could_write)
    (tmp_path / "photos/summary.json").write_text("{}")
    got = [os.path.relpath(i.source, tmp_path) for i in src.items()]
    assert got == ["photos/a.jpg", "photos/sub/b.jpg"]
    again = expand(Input("photos", GlobSource(("photos/**/*",)), Pos("wf.yaml", 3, 5)),
                   str(tmp_path), skip=pat.could_write)
    assert again.count == 2


def test_fixed_output_paths_passed_positionally_are_never_inputs(tmp_path):
    # As the engine calls it: could_write(templates, fixed paths, workdir) as expand's 3rd arg.
    photos(tmp_path, "a.jpg", "contact.jpg", "small/a.jpg")
    writes = could_write(["photos/small/{stem}.jpg"],
                         [Resolver(str(tmp_path), False).resolve("photos/contact.jpg")],
                         str(tmp_path))
    src = expand(Input("photos", GlobSource(("photos/**/*.jpg",)), Pos("wf.yaml", 3, 5)),
                 str(tmp_path), writes)
    assert [os.path.relpath(i.source, tmp_path) for i in src.items()] == ["photos/a.jpg"]


def test_an_escape_joined_onto_the_workdir_is_shown_as_written(tmp_path):
    with pytest.raises(FlowError, match=r"escapes the working directory: \.\./x\.jpg \(use"):
        Resolver(str(tmp_path), False).resolve(os.path.join(tmp_path, "../x.jpg"))


# ---------------------------------------------------------------- only the documented fields

def fields_wf(*templates: str) -> str:
    """A workflow saving one photo input once per template, four lines per step."""
    steps = "".join(f"  - id: s{i}\n    from: photos\n    uses: image.save\n"
                    f'    with: {{to: "{t}"}}\n' for i, t in enumerate(templates))
    return f"flow: 1\nname: fields\ninputs:\n  photos: {{glob: \"photos/*.png\"}}\nsteps:\n{steps}"


BAD_TEMPLATES = ("out/a/{stem.upper}.jpg", "out/b/{stem[0]}.jpg", "out/c/{stem:>20}.jpg",
                 "out/d/{index:x}.jpg", "out/e/{name!r}.jpg")
PADDED = "out/f/{index:04d}-{stem}.jpg"


def _one_photo(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "photos").mkdir()
    Image.new("RGB", (8, 6), "red").save(tmp_path / "photos" / "a.png")


@pytest.mark.parametrize("command", ["validate", "run"])
def test_only_the_documented_fields_and_index_padding_are_allowed(tmp_path, flow, command):
    _one_photo(tmp_path)
    (tmp_path / "wf.yaml").write_text(fields_wf(*BAD_TEMPLATES, PADDED))
    res = flow(command, "wf.yaml", *(["--no-live"] if command == "run" else []))
    assert res.returncode == 2, res.stdout + res.stderr
    errors = [line for line in res.stderr.splitlines() if ": error: " in line]
    assert errors == [
        "wf.yaml:9:16: error: steps[0].with.to: {stem.upper}: attribute access is not allowed",
        "wf.yaml:13:16: error: steps[1].with.to: {stem[0]}: index access is not allowed",
        "wf.yaml:17:16: error: steps[2].with.to: {stem:>20}: no format spec is allowed on "
        "{stem}",
        "wf.yaml:21:16: error: steps[3].with.to: {index:x}: format spec 'x' is not allowed; "
        "{index} takes a zero-padded width only, such as {index:04d}",
        "wf.yaml:25:16: error: steps[4].with.to: {name!r}: a conversion ('!r') is not allowed",
    ]
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists()


def test_a_zero_padded_index_names_the_output(tmp_path, flow):
    _one_photo(tmp_path)
    (tmp_path / "wf.yaml").write_text(fields_wf(PADDED))
    res = flow("run", "wf.yaml", "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    assert sorted(p.name for p in (tmp_path / "out" / "f").iterdir()) == ["0000-a.jpg"]


def _claim(pairs, pos, where, workdir) -> None:
    """Claim one output argument's paths; FlowError on a collision, as prepare does."""
    claims = OutputClaims(str(workdir))
    claims.add(pairs, pos, where)
    claims.raise_if_any()
