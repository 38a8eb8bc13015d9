"""Input names that are not plain text: bytes that are not UTF-8, a newline, an escape
sequence. flow shows them escaped on one line (summary, plain lines) and still writes
its JSON (``--json``, ``--report``), through the real command on real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from tests.conftest import REPO

WF = """\
flow: 1
name: names
inputs:
  photos: {glob: "photos/*.jpg"}
steps:
  - {id: small, from: photos, uses: image.thumbnail, with: {size: 8}}
  - {id: save, uses: image.save, with: {to: "out/{stem}.png"}}
"""

BAD = [b"bad\xff.jpg", b"new\nline.jpg", b"esc\x1b[31mred.jpg"]  # garbage inside
SHOWN = ["photos/bad\\xff.jpg", "photos/new\\nline.jpg", "photos/esc\\x1b[31mred.jpg"]


def _flow(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    # A strict UTF-8 stream, as on a UTF-8 locale: a stray surrogate would be an error.
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8:strict"}
    return subprocess.run([sys.executable, "-m", "runner", *args], cwd=cwd, env=env,
                          capture_output=True, timeout=120)


def _corpus(tmp_path: Path) -> None:
    photos = os.path.join(os.fsencode(tmp_path), b"photos")
    os.mkdir(photos)
    for name in BAD:
        with open(os.path.join(photos, name), "wb") as fh:
            fh.write(b"this is not an image\n")
    Image.new("RGB", (32, 24), "red").save(os.path.join(photos, b"ok\nname.jpg"))
    (tmp_path / "wf.yaml").write_text(WF)


def test_odd_names_are_escaped_in_the_summary_and_the_report_is_written(tmp_path):
    _corpus(tmp_path)
    res = _flow(tmp_path, "run", "wf.yaml", "--no-live", "--report", "report.json")
    out, err = res.stdout.decode("utf-8"), res.stderr.decode("utf-8")  # strict: valid UTF-8
    assert res.returncode == 1, out + err
    assert "Traceback" not in err and "\x1b" not in out
    # Each failure on its own line, in the plain lines and in the summary.
    for shown in SHOWN:
        assert f"failed: {shown} at small: ImageError:" in out, out
        assert f"\n  {shown} at small: ImageError:" in out, out
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert sorted(f["item"] for f in report["failures"]) == sorted(
        ["photos/bad\\xff.jpg", "photos/new\nline.jpg", "photos/esc\x1b[31mred.jpg"])
    # The good image with a newline in its name was made, under that name.
    with Image.open(os.path.join(os.fsencode(tmp_path), b"out", b"ok\nname.png")) as im:
        assert im.size == (8, 6)


def test_odd_names_in_json_lines_are_valid_json(tmp_path):
    _corpus(tmp_path)
    res = _flow(tmp_path, "run", "wf.yaml", "--json")
    assert res.returncode == 1, res.stderr
    events = [json.loads(line) for line in res.stdout.decode("utf-8").splitlines()]
    failed = sorted(e["item"] for e in events if e["event"] == "item_failed")
    assert failed == sorted(["photos/bad\\xff.jpg", "photos/new\nline.jpg",
                             "photos/esc\x1b[31mred.jpg"])
    assert events[-1]["event"] == "run_finished"
