"""``uses: pkg:teamsteps/thumbs.yaml``: pipelines shipped in an installed step package.

The package is real: a package folder with its own step module (an entry point
in ``flow.steps``) and workflow files as package data, made into a wheel and
installed by pip into a target folder (no network), or laid out by hand with a
``.dist-info`` holding its ``entry_points.txt``; either folder is put on
PYTHONPATH and the real ``flow`` runs a workflow that uses it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import REPO, make_photos

STEPS_PY = '''\
"""The team's own steps."""
from steps import step


@step("teamsteps.double", schema={"type": "object", "properties": {}})
def double(x):
    """Twice the value."""
    return 2 * x
'''

THUMBS = """\
flow: 1
name: thumbs
description: The team's web thumbnails.
params: {size: 32, out: build/thumbs}
inputs:
  photos: {glob: "photos/*.jpg"}
steps:
  - id: shrink
    from: photos
    uses: image.thumbnail
    with: {size: "${size}"}
  - id: save
    uses: image.save
    with: {to: "${out}/{stem}.jpg"}
"""

DOUBLE = """\
flow: 1
name: double
inputs:
  numbers: {values: [1]}
steps:
  - id: twice
    from: numbers
    uses: teamsteps.double
"""


def _package(root: Path) -> Path:
    """The package's importable folder, written under ``root``."""
    pkg = root / "teamsteps"
    (pkg / "pipelines").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "steps.py").write_text(STEPS_PY)
    (pkg / "thumbs.yaml").write_text(THUMBS)
    (pkg / "pipelines" / "double.yaml").write_text(DOUBLE)
    return pkg


def _wheel(src: Path, out: Path) -> Path:
    """A wheel of the package under ``src`` (entry point in flow.steps, YAML as package data).

    Built with zipfile, as a build backend would: this needs no setuptools or wheel
    package and no network, and what pip installs from it is a real installation.
    """
    info = "teamsteps-1.0.dist-info"
    files = {p.relative_to(src).as_posix(): p.read_bytes()
             for p in sorted((src / "teamsteps").rglob("*")) if p.is_file()}
    files[f"{info}/METADATA"] = b"Metadata-Version: 2.1\nName: teamsteps\nVersion: 1.0\n"
    files[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                              b"Tag: py3-none-any\n")
    files[f"{info}/entry_points.txt"] = b"[flow.steps]\nteamsteps = teamsteps.steps\n"
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    wheel = out / "teamsteps-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return wheel


@pytest.fixture(scope="module")
def pip_installed(tmp_path_factory) -> Path:
    """teamsteps installed by pip (from its wheel, no network) into a folder; that folder."""
    src = tmp_path_factory.mktemp("src")
    _package(src)
    wheel = _wheel(src, src)
    site = tmp_path_factory.mktemp("site")
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                          "--no-index", "--target", str(site), str(wheel)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (site / "teamsteps" / "thumbs.yaml").is_file()
    assert (site / "teamsteps-1.0.dist-info" / "INSTALLER").read_text().strip() == "pip"
    return site


@pytest.fixture(scope="module")
def on_path(tmp_path_factory) -> Path:
    """The same package by hand: its folder and a .dist-info (named team-steps) beside it."""
    site = tmp_path_factory.mktemp("site")
    _package(site)
    info = site / "team_steps-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: team-steps\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[flow.steps]\nteamsteps = teamsteps.steps\n")
    return site


def flow_with(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(site)]),
           "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "runner", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


SITE = """\
flow: 1
name: site
inputs:
  photos: {glob: "photos/*.jpg"}
  numbers: {range: {start: 1, stop: 11}}
steps:
  - id: thumbs
    from: photos
    uses: pkg:%s/thumbs.yaml
    with: {size: 48}
  - id: doubled
    from: numbers
    uses: pkg:%s/pipelines/double.yaml
  - id: total
    uses: numeric.sum
  - id: write
    uses: io.write
    with: {to: build/total.json}
"""


@pytest.mark.parametrize("how, name", [("pip_installed", "teamsteps"),
                                       ("on_path", "teamsteps"), ("on_path", "team-steps")])
def test_run_a_workflow_that_uses_pipelines_from_a_package(request, tmp_path, how, name):
    site = request.getfixturevalue(how)
    make_photos(tmp_path / "photos", count=3)
    (tmp_path / "wf.yaml").write_text(SITE % (name, name))
    res = flow_with(site, tmp_path, "run", "wf.yaml", "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    thumbs = sorted((tmp_path / "build" / "thumbs").glob("*.jpg"))
    assert len(thumbs) == 3
    for t in thumbs:
        with Image.open(t) as im:
            assert max(im.size) == 48
    assert json.loads((tmp_path / "build" / "total.json").read_text()) == 2 * sum(range(1, 11))


def write_uses(tmp_path: Path, uses: str) -> None:
    (tmp_path / "wf.yaml").write_text(
        'flow: 1\nname: site\ninputs:\n  photos: {glob: "photos/*.jpg"}\nsteps:\n'
        f"  - id: thumbs\n    from: photos\n    uses: {uses}\n")


@pytest.mark.parametrize("uses, message", [
    ("pkg:nosuch/thumbs.yaml",
     "steps[0].uses: no installed step package 'nosuch'"),
    ("pkg:teamstep/thumbs.yaml",
     "steps[0].uses: no installed step package 'teamstep' (did you mean 'team-steps'?)"),
    ("pkg:teamsteps/thumb.yaml",
     "steps[0].uses: step package 'teamsteps' has no workflow file 'thumb.yaml' "
     "(did you mean 'thumbs.yaml'?)"),
    ("pkg:teamsteps/../x.yaml",
     "steps[0].uses: '../x.yaml' leaves its package: a pkg: path is a file inside the "
     "package"),
    ("pkg:teamsteps",
     "steps[0].uses: 'pkg:teamsteps' is not of the form pkg:package/file.yaml"),
])
def test_missing_package_or_file_is_a_validation_error(on_path, tmp_path, uses, message):
    write_uses(tmp_path, uses)
    res = flow_with(on_path, tmp_path, "validate", "wf.yaml")
    assert res.returncode == 2
    lines = res.stderr.splitlines()
    assert lines[0] == f"wf.yaml:8:11: error: {message}"
    assert lines[1:3] == [f"        uses: {uses}", "              ^"]
    assert "Traceback" not in res.stderr


def test_missing_file_hint_lists_what_the_package_ships(on_path, tmp_path):
    write_uses(tmp_path, "pkg:teamsteps/nothing.yaml")
    res = flow_with(on_path, tmp_path, "validate", "wf.yaml")
    assert res.stderr.splitlines()[-1] == (
        f"    hint: looked in {on_path / 'teamsteps'}; it ships pipelines/double.yaml, "
        "thumbs.yaml")


def test_validate_imports_nothing_of_the_package(on_path, tmp_path):
    """Finding the file runs none of the package's code (validate never runs user code)."""
    (on_path / "teamsteps" / "__init__.py").write_text("raise SystemExit('imported!')\n")
    try:
        make_photos(tmp_path / "photos", count=1)
        write_uses(tmp_path, "pkg:teamsteps/thumbs.yaml")
        res = flow_with(on_path, tmp_path, "validate", "wf.yaml")
        assert res.returncode == 0, res.stderr
        assert res.stdout == "wf.yaml: ok\n"
    finally:
        (on_path / "teamsteps" / "__init__.py").write_text("")
