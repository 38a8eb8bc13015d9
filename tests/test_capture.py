"""The screen belongs to flow: what a step writes (to stdout, to fd 2, from C, as a Python
warning) is captured per item, counted on screen and kept in the report and the JSON
events, never printed over the live table.

Each test runs the real ``flow run`` on a ``py:`` step that makes noise in every way a
library can; the pty tests read every byte a user's terminal got.
"""

from __future__ import annotations

import json
from concurrent.futures import Future
from pathlib import Path

import pytest

from tests.conftest import run_flow, side_by_side
from tests.pty_kit import frames, plain, run_in_pty

NOISY = '''\
import ctypes
import os
import sys
import warnings

_libc = ctypes.CDLL(None)


def noisy(value):
    print(f"printed by {value}")
    os.write(2, f"fd 2 of {value}\\n".encode())
    _libc.puts(f"C stdio of {value}".encode())  # buffered by C when not a terminal
    warnings.warn(f"warned about {value}")
    print(f"stderr of {value}", file=sys.stderr)
    return value


def chatty(value):
    for line in range(200):
        print(f"{value}: line {line} " + "x" * 60)
    return value
'''

WORKFLOW = """\
flow: 1
name: noisy
inputs:
  numbers:
    values: [1, 2, 3, 4, 5, 6]
steps:
  - id: noise
    from: numbers
    uses: py:noisy:noisy
    parallel: {mode: MODE, chunksize: 3}
  - id: calm
    uses: util.sleep
    with: {seconds: 0.2}
  - id: total
    uses: numeric.sum
"""
NOISE = ("printed by", "fd 2 of", "C stdio of", "warned about", "stderr of")


def workflow(folder: Path, mode: str, step: str = "noisy") -> str:
    (folder / "noisy.py").write_text(NOISY, encoding="utf-8")
    text = WORKFLOW.replace("MODE", mode).replace("py:noisy:noisy", f"py:noisy:{step}")
    (folder / "noisy.yaml").write_text(text, encoding="utf-8")
    return "noisy.yaml"


def assert_kept_per_item(notices: list[dict]) -> None:
    """Each of the six items has one notice holding everything it wrote."""
    by_item = {n["item"]: n["text"] for n in notices}
    assert sorted(by_item) == [f"item {i} ({i + 1})" for i in range(6)], by_item
    for i in range(6):
        text = by_item[f"item {i} ({i + 1})"]
        for noise in NOISE:
            assert f"{noise} {i + 1}" in text, text
        assert "UserWarning: warned about" in text
        assert not any(f"of {j}" in text for j in range(1, 7) if j != i + 1)  # its own only


def json_verbose_quiet(folder: Path) -> tuple:
    """``--json``, then ``--force --verbose``, then ``--force`` plain, one after the other."""
    name = workflow(folder, "map")
    return tuple(run_flow(*args, cwd=folder) for args in (
        ("run", name, "--json"), ("run", "noisy.yaml", "--force", "--verbose"),
        ("run", "noisy.yaml", "--force")))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Future]:
    """This module's real runs without Dask, each in its own folder, side by side: each is
    mostly its items' sleeping, and none shares a folder, a terminal or a process."""
    folders = {name: tmp_path_factory.mktemp(name)
               for name in ("map", "serial", "chatty", "json")}

    def in_pty(name: str, mode: str, step: str = "noisy", *more: str):
        return lambda: (folders[name], run_in_pty(
            "run", workflow(folders[name], mode, step), *more, cwd=folders[name], columns=100))

    report = ("--report", "report.json")
    return side_by_side(map=in_pty("map", "map", "noisy", *report),
                        serial=in_pty("serial", "serial", "noisy", *report),
                        chatty=in_pty("chatty", "map", "chatty"),
                        json=lambda: json_verbose_quiet(folders["json"]))


@pytest.mark.parametrize("mode", ["map", "serial"])
def test_nothing_a_step_writes_reaches_the_screen(runs: dict[str, Future], mode: str) -> None:
    folder, (code, screen) = runs[mode].result()
    text = plain(screen)
    assert code == 0, text
    for noise in NOISE:
        assert noise not in text, text
    assert "6 items wrote output or warnings" in text  # the count, on screen
    drawn = [f for f in frames(screen) if any(x.split()[:1] == ["stage"] for x in f)]
    assert len(drawn) >= 2
    # Under the table while it runs, not only in the summary after it.
    assert any(x.startswith(" 6 items wrote output or warnings (--verbose shows it")
               for x in drawn[-1]), drawn[-1]
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert_kept_per_item(report["item_notices"])


def test_json_events_and_verbose_carry_the_text(runs: dict[str, Future]) -> None:
    out, verbose, quiet = runs["json"].result()
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]  # pure JSON Lines
    assert_kept_per_item([e for e in events if e["event"] == "item_notice"])
    assert not any(noise in out.stderr for noise in NOISE)
    assert verbose.returncode == 0
    for i in range(1, 7):
        for noise in NOISE:
            assert f"{noise} {i}" in verbose.stdout
    assert "6 items wrote output or warnings" in quiet.stdout
    assert "printed by" not in quiet.stdout + quiet.stderr


def test_a_step_that_prints_a_lot_leaves_no_stale_tables(runs: dict[str, Future]) -> None:
    _, (code, screen) = runs["chatty"].result()
    assert code == 0
    text = plain(screen)
    assert "line 199" not in text
    # One title row per redraw and nothing between them: no copy of the table is
    # pushed into the scrollback by foreign lines.
    drawn = frames(screen)
    assert len(drawn) >= 3
    for lines in drawn[:-1]:
        shown = [x for x in lines if x.strip() and "wrote output or warnings" not in x]
        assert shown[0].startswith(" noisy · 3 stages"), lines
        assert len(shown) == 5, lines  # title, header, a row per stage: nothing else


def test_dask_workers_capture_the_same_way(flow, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    out = flow("run", workflow(tmp_path, "map"), "--executor", "dask", "--report", "r.json")
    assert out.returncode == 0, out.stderr
    assert not any(noise in out.stdout + out.stderr for noise in NOISE)
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert_kept_per_item(report["item_notices"])
