"""Inputs become items: globs over real folders, ranges, values, CSV files."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import pytest

from runner.errors import FlowError, Pos
from runner.files.inputs import Item, expand
from runner.model import CsvSource, GlobSource, Input, RangeSource, ValuesSource
from tests.timing import limit

POS = Pos("wf.yaml", 3, 5)


def touch(root: Path, *names: str) -> None:
    for name in names:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(name)


def glob(tmp_path: Path, *patterns: str, exclude: tuple[str, ...] = (), allow_empty=False,
         **kw) -> list[str]:
    """The matched files, relative to tmp_path, in item order."""
    src = expand(Input("photos", GlobSource(patterns, exclude, allow_empty), POS), str(tmp_path),
                 **kw)
    paths = [os.path.relpath(it.source, tmp_path) for it in src.items()]
    assert src.count == len(paths)
    return paths


# ---------------------------------------------------------------- glob


def test_recursive_glob_is_sorted_and_takes_only_matching_files(tmp_path):
    touch(tmp_path, "photos/b.jpg", "photos/a.jpg", "photos/sub/deep/c.jpg", "photos/x.png",
          "photos/sub/d.JPG", "other/e.jpg")
    assert glob(tmp_path, "photos/**/*.jpg") == [
        "photos/a.jpg", "photos/b.jpg", "photos/sub/deep/c.jpg"]
    assert glob(tmp_path, "photos/*.jpg") == ["photos/a.jpg", "photos/b.jpg"]
    # an absolute pattern works the same
    assert glob(tmp_path, f"{tmp_path}/photos/*/deep/*.jpg") == ["photos/sub/deep/c.jpg"]


def test_several_patterns_are_a_union_with_each_file_once(tmp_path):
    touch(tmp_path, "photos/a.jpg", "photos/b.png", "photos/sub/c.jpg")
    got = glob(tmp_path, "photos/**/*.jpg", "photos/*.jpg", "photos/**/*.png")
    assert got == ["photos/a.jpg", "photos/b.png", "photos/sub/c.jpg"]


def test_exclude_patterns_drop_files_and_whole_folders(tmp_path):
    touch(tmp_path, "photos/a.jpg", "photos/_draft.jpg", "photos/_old/b.jpg",
          "photos/sub/_c.jpg", "photos/sub/d.jpg", "photos/raw/e.jpg")
    assert glob(tmp_path, "photos/**/*.jpg", exclude=("**/_*",)) == [
        "photos/a.jpg", "photos/raw/e.jpg", "photos/sub/d.jpg"]
    assert glob(tmp_path, "photos/**/*.jpg", exclude=("**/_*", "photos/raw/**")) == [
        "photos/a.jpg", "photos/sub/d.jpg"]


def test_hidden_files_and_folders_are_left_out_unless_named(tmp_path):
    touch(tmp_path, "photos/a.jpg", "photos/.b.jpg", "photos/.cache/c.jpg",
          "photos/sub/.git/d.jpg")
    assert glob(tmp_path, "photos/**/*.jpg") == ["photos/a.jpg"]
    assert glob(tmp_path, "photos/**/*") == ["photos/a.jpg"]
    # a pattern component that starts with a dot names hidden files on purpose
    assert glob(tmp_path, "photos/.*.jpg") == ["photos/.b.jpg"]
    assert glob(tmp_path, "photos/.cache/*.jpg") == ["photos/.cache/c.jpg"]
    assert glob(tmp_path, "photos/**/.git/*.jpg") == ["photos/sub/.git/d.jpg"]


def test_only_regular_files_are_items(tmp_path):
    touch(tmp_path, "photos/a.jpg")
    (tmp_path / "photos/folder.jpg").mkdir()
    (tmp_path / "photos/broken.jpg").symlink_to(tmp_path / "nowhere.jpg")
    os.mkfifo(tmp_path / "photos/pipe.jpg")
    assert glob(tmp_path, "photos/*.jpg") == ["photos/a.jpg"]


@pytest.mark.timing
def test_symlink_loop_ends_quickly_and_yields_each_file_once(tmp_path):
    touch(tmp_path, "tree/a.txt", "tree/sub/b.txt", "other/c.txt")
    (tmp_path / "tree/loop").symlink_to(tmp_path / "tree")
    (tmp_path / "tree/sub/up").symlink_to("..")
    (tmp_path / "tree/sub/other").symlink_to(tmp_path / "other")
    (tmp_path / "other/back").symlink_to(tmp_path / "tree")  # a loop across two folders
    t0 = time.perf_counter()
    got = glob(tmp_path, "tree/**/*.txt")
    assert time.perf_counter() - t0 < limit(2)
    assert got == ["tree/a.txt", "tree/sub/b.txt", "tree/sub/other/c.txt"]


def test_two_links_to_one_file_yield_it_once(tmp_path):
    touch(tmp_path, "photos/real.jpg")
    (tmp_path / "photos/link.jpg").symlink_to("real.jpg")
    (tmp_path / "photos/sub").mkdir()
    (tmp_path / "photos/sub/again.jpg").symlink_to(tmp_path / "photos/real.jpg")
    got = glob(tmp_path, "photos/**/*.jpg")
    assert got == ["photos/link.jpg"]  # the first name in sort order stands for the file


def test_no_match_is_an_error_at_the_inputs_position(tmp_path):
    touch(tmp_path, "photos/a.png")
    with pytest.raises(FlowError) as err:
        glob(tmp_path, "photos/**/*.jpg")
    assert str(err.value) == "wf.yaml:3:5: error: inputs.photos: no file matches photos/**/*.jpg"
    assert err.value.exit_code == 2


def test_no_match_after_excludes_says_so(tmp_path):
    touch(tmp_path, "photos/_a.jpg")
    with pytest.raises(FlowError, match=r"no file matches photos/\*\.jpg \(1 matching files "
                                        r"excluded\)"):
        glob(tmp_path, "photos/*.jpg", exclude=("**/_*",))


def test_a_folder_named_without_wildcard_gets_a_hint(tmp_path):
    touch(tmp_path, "photos/a.jpg")
    with pytest.raises(FlowError) as err:
        glob(tmp_path, "photos")
    assert "photos/**" in err.value.problems[0].hint


def test_allow_empty_gives_no_items(tmp_path):
    assert glob(tmp_path, "missing/**/*.jpg", allow_empty=True) == []


def test_files_the_workflow_writes_are_never_inputs(tmp_path):
    touch(tmp_path, "photos/a.jpg", "photos/out.jpg", ".flow/cache/x.jpg", "photos/.flow/y.jpg")
    excluded = frozenset({str(tmp_path / "photos/out.jpg")})
    assert glob(tmp_path, "photos/*.jpg", exclude_paths=excluded) == ["photos/a.jpg"]
    # nothing under a .flow folder, even when named on purpose
    assert glob(tmp_path, ".flow/**/*.jpg", "photos/.flow/*.jpg", allow_empty=True) == []
    assert glob(tmp_path, "**/*.jpg", skip=lambda p: p.endswith("a.jpg"),
                exclude_paths=excluded, allow_empty=True) == []


@pytest.mark.timing
def test_a_glob_of_10k_files_expands_fast(tmp_path):
    for d in range(40):
        folder = tmp_path / "photos" / f"d{d:02}"
        folder.mkdir(parents=True)
        for i in range(250):
            (folder / f"{i:03}.jpg").touch()
    t0 = time.perf_counter()
    src = expand(Input("photos", GlobSource(("photos/**/*.jpg",), ("**/_*",)), POS),
                 str(tmp_path))
    assert src.count == 10_000
    assert time.perf_counter() - t0 < limit(0.5)


def test_fields_of_a_nested_file(tmp_path):
    touch(tmp_path, "photos/2023/trip/img.v2.jpg")
    src = expand(Input("photos", GlobSource(("photos/**/*.jpg",)), POS), str(tmp_path))
    (item,) = src.items()
    assert item.value == item.source == str(tmp_path / "photos/2023/trip/img.v2.jpg")
    assert item.root == str(tmp_path / "photos")
    assert item.fields() == {"stem": "img.v2", "name": "img.v2.jpg", "ext": ".jpg",
                             "parent": "trip", "relpath": "2023/trip/img.v2", "index": "0"}


def test_fields_of_values_and_items_index(tmp_path):
    src = expand(Input("v", ValuesSource(("a", 2, 3.5)), POS), str(tmp_path))
    items = list(src.items())
    assert [i.value for i in items] == ["a", 2, 3.5]
    assert items[2].fields() == {"stem": "3.5", "name": "3.5", "ext": "", "parent": "",
                                 "relpath": "3.5", "index": "2"}
    assert Item(7, "x").fields()["index"] == "7"


# ---------------------------------------------------------------- range


def rng(tmp_path, start, stop, step=1):
    return expand(Input("n", RangeSource(start, stop, step), POS), str(tmp_path))


@pytest.mark.timing
def test_range_of_20_million_is_instant_and_lazy(tmp_path):
    t0 = time.perf_counter()
    src = rng(tmp_path, 0, 20_000_000)
    first = list(itertools.islice(src.items(), 3))
    assert time.perf_counter() - t0 < limit(0.05)
    assert src.count == 20_000_000
    assert (src.span.start, src.span.step, len(src.span)) == (0, 1, 20_000_000)
    assert [i.value for i in first] == [0, 1, 2]
    assert all(type(i.value) is int for i in first)


def test_float_and_negative_ranges(tmp_path):
    assert [i.value for i in rng(tmp_path, 0, 1, 0.25).items()] == [0.0, 0.25, 0.5, 0.75]
    assert rng(tmp_path, 0, 0.3, 0.1).count == 3  # ceil, despite float rounding
    assert rng(tmp_path, 0, 1.05, 0.5).count == 3
    assert [i.value for i in rng(tmp_path, 10, 0, -3).items()] == [10, 7, 4, 1]
    assert [i.value for i in rng(tmp_path, 1, 0, -0.25).items()] == [1, 0.75, 0.5, 0.25]
    assert rng(tmp_path, 5, 0).count == 0


def test_range_step_zero_is_an_error(tmp_path):
    with pytest.raises(FlowError, match=r"wf.yaml:3:5: error: inputs.n: range step must not be 0"):
        rng(tmp_path, 0, 10, 0)


# ---------------------------------------------------------------- csv


def csv_items(tmp_path, column, path="data.csv", glob_=None, header=True):
    src = expand(Input("data", CsvSource(path if glob_ is None else None, glob_, column, header),
                       POS), str(tmp_path))
    return [i.value for i in src.items()]


def test_csv_column_by_name_and_by_index(tmp_path):
    (tmp_path / "data.csv").write_text("name,price,qty\napple,1.5,3\n\npear,2,10\n")
    assert csv_items(tmp_path, "price") == [1.5, 2]
    assert [type(v) for v in csv_items(tmp_path, "qty")] == [int, int]
    (tmp_path / "raw.csv").write_text("1,2\n3,4\n")
    assert csv_items(tmp_path, 1, path="raw.csv", header=False) == [2, 4]


def test_csv_glob_concatenates_files_in_sorted_order(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data/b.csv").write_text("v\n3\n")
    (tmp_path / "data/a.csv").write_text("v\n1\n2\n")
    assert csv_items(tmp_path, "v", glob_="data/*.csv") == [1, 2, 3]


def test_csv_bad_cell_names_file_line_and_column(tmp_path):
    (tmp_path / "data.csv").write_text('name,price\napple,1\n"pear, green",abc\n')
    with pytest.raises(FlowError) as err:
        csv_items(tmp_path, "price")
    assert str(err.value) == "data.csv:3:15: error: inputs.data: not a number: 'abc'"


def test_csv_empty_cell_is_an_error(tmp_path):
    (tmp_path / "data.csv").write_text("a,b\n1,2\n3,\n")
    with pytest.raises(FlowError, match=r"^data.csv:3:3: error: inputs.data: empty cell"):
        csv_items(tmp_path, "b")


def test_csv_unknown_column_suggests_the_near_name(tmp_path):
    (tmp_path / "data.csv").write_text("name,price\napple,1\n")
    with pytest.raises(FlowError) as err:
        csv_items(tmp_path, "prise")
    assert str(err.value) == ("wf.yaml:3:5: error: inputs.data: no column 'prise' in data.csv "
                              "(did you mean 'price'?)")


def test_csv_missing_file_is_an_error(tmp_path):
    with pytest.raises(FlowError, match="inputs.data: no such file: nope.csv"):
        csv_items(tmp_path, 0, path="nope.csv")
