"""`flow init`: a commented starter workflow that validates and runs as written.

Everything goes through the real `flow` command in an empty temporary folder;
the photos starter runs on real photos put where its comment says.
"""

from __future__ import annotations

import json

from PIL import Image

from tests.conftest import make_photos


def test_numbers_starter_runs_as_written(flow, tmp_path):
    res = flow("init", "--numbers")
    assert res.returncode == 0, res.stderr
    text = (tmp_path / "squares.yaml").read_text()
    assert "name: squares\n" in text
    assert sum(line.lstrip().startswith("#") for line in text.splitlines()) >= 5
    assert flow("validate", "squares.yaml").stdout == "squares.yaml: ok\n"
    run = flow("run", "squares.yaml", "--no-live")
    assert run.returncode == 0, run.stdout + run.stderr
    total = json.loads((tmp_path / "build" / "squares" / "sum.json").read_text())
    assert total == sum(i * i for i in range(1000))
    stats = json.loads((tmp_path / "build" / "squares" / "stats.json").read_text())
    assert stats["count"] == 1000 and stats["max"] == 999 * 999


def test_photos_starter_runs_on_the_photos_put_where_it_says(flow, tmp_path):
    res = flow("init", "album")
    assert res.returncode == 0, res.stderr
    assert res.stdout == (
        "wrote album.yaml: a web thumbnail of every photo, and statistics of their brightness\n"
        "next:\n"
        "  put photos (.jpg, .jpeg, .png; subfolders too) in photos/\n"
        "  flow run album.yaml\n"
        "  flow steps              the steps you can use; flow steps NAME shows one\n")
    assert (tmp_path / "photos").is_dir()
    make_photos(tmp_path / "photos", count=3, size=(800, 600))
    make_photos(tmp_path / "photos" / "trip", count=2, size=(600, 800))
    run = flow("run", "album.yaml", "--no-live")
    assert run.returncode == 0, run.stdout + run.stderr
    thumbs = sorted(p.relative_to(tmp_path / "build" / "album").as_posix()
                    for p in (tmp_path / "build" / "album").rglob("*.jpg"))
    assert len(thumbs) == 5 and sum(t.startswith("trip/") for t in thumbs) == 2
    for t in thumbs:
        with Image.open(tmp_path / "build" / "album" / t) as im:
            assert max(im.size) == 256
    stats = json.loads((tmp_path / "build" / "album" / "brightness.json").read_text())
    assert stats["count"] == 5 and 0 <= stats["min"] <= stats["max"] <= 255


def test_photos_starter_is_the_default_and_says_where_photos_go(flow, tmp_path):
    assert flow("init").returncode == 0
    text = (tmp_path / "thumbnails.yaml").read_text()
    assert "# Put photos" in text and "name: thumbnails\n" in text
    assert flow("validate", "thumbnails.yaml").returncode == 0
    empty = flow("run", "thumbnails.yaml", "--no-live")
    assert empty.returncode == 2
    assert "photos/**/*.jpg" in empty.stderr and "Traceback" not in empty.stderr


def test_init_never_overwrites(flow, tmp_path):
    (tmp_path / "squares.yaml").write_text("mine\n")
    res = flow("init", "--numbers")
    assert res.returncode == 2
    assert res.stderr == ("squares.yaml: error: already exists; flow init never overwrites "
                          "a file\n"
                          "    hint: choose another name: flow init NAME\n")
    assert (tmp_path / "squares.yaml").read_text() == "mine\n"


def test_init_takes_a_path_and_names_the_workflow_after_it(flow, tmp_path):
    (tmp_path / "pipelines").mkdir()
    res = flow("init", "pipelines/sums.yaml", "--numbers")
    assert res.returncode == 0, res.stderr
    assert "name: sums\n" in (tmp_path / "pipelines" / "sums.yaml").read_text()
    assert flow("run", "pipelines/sums.yaml", "--no-live").returncode == 0
    assert (tmp_path / "build" / "sums" / "sum.json").is_file()


def test_init_refuses_a_name_a_workflow_cannot_have(flow, tmp_path):
    res = flow("init", "My Photos")
    assert res.returncode == 2
    assert res.stderr.startswith("command line: error: 'My Photos' cannot be a workflow name: "
                                 "it must start with a lowercase letter")
    assert list(tmp_path.iterdir()) == []


def test_photos_and_numbers_exclude_each_other(flow):
    res = flow("init", "--photos", "--numbers")
    assert res.returncode == 2
    assert "not allowed with argument" in res.stderr


def test_init_on_a_full_disk_leaves_no_empty_workflow_behind(flow, tmp_path):
    from tests.hostile_kit import leave_free, tmpfs

    with tmpfs(tmp_path / "full", "64k") as full:
        leave_free(full, 0)
        res = flow("init", "--numbers", "full/sums")
        assert res.returncode == 2, res.stdout + res.stderr
        assert res.stderr.strip() == \
            "full/sums.yaml: error: cannot write it: no space left on device", res.stderr
        assert sorted(p.name for p in full.iterdir()) == ["filler"]  # a retry is not refused
