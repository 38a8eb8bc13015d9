"""The live table as a user sees it: the real ``flow run`` in a real pty of 60, 80 and 160
columns, every frame it drew read back from the terminal's bytes.

Numbers are never cut, the header row is the same from the first frame to the last, no
line is wider than the terminal, and what gives way first is the bar, then the middle
of a long stage name, then the columns a user misses least.
"""

from __future__ import annotations

import os
import re

import pytest

from runner.report.layout import fit, shorten
from tests.conftest import side_by_side
from tests.pty_kit import frames, plain, run_in_pty

WORKFLOW = """\
flow: 1
name: screen
inputs:
  numbers:
    range: {start: 0, stop: 40}
steps:
  - id: orient
    from: numbers
    uses: util.sleep
    with: {seconds: 0.1}
  - id: shrink
    uses: numeric.square
  - id: sharpen
    uses: numeric.abs
  - id: save
    uses: numeric.round
  - id: brightness
    from: numbers
    uses: numeric.cube
  - id: summary
    uses: numeric.stats
  - id: write
    uses: io.write
    with: {to: "out/summary.json"}
"""
LONG = "orient→shrink→sharpen→save"
ALL = ["stage", "mode", "progress", "done", "fail", "skip", "/s", "time", "eta", "state"]


def table_frames(screen: str) -> list[tuple[str, list[str]]]:
    """(header line, stage rows) of every frame that holds the table."""
    out = []
    for lines in frames(screen):
        at = next((i for i, x in enumerate(lines) if x.split()[:1] == ["stage"]), None)
        if at is None:
            continue
        out.append((lines[at], lines[at + 1:at + 4]))
    return out


def cell(row: str, header: str, name: str) -> str:
    """The right-aligned cell of column ``name``: the word of ``row`` ending where its
    header ends (and nothing glued to its right)."""
    end = re.search(rf"(?<!\S){re.escape(name)}(?!\S)", header).end()
    assert row[end:end + 1] in ("", " "), f"{name!r} cell runs past its column: {row!r}"
    return row[:end].split(" ")[-1]


@pytest.fixture(scope="module")
def screens(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[int, str]]:
    """One real run per width, each in its own folder and its own pty.

    The three runs go side by side: each is seconds of sleeping items, and its terminal,
    folder and processes are its own, so none changes what another draws.
    """
    folders = {}
    for columns in (60, 80, 160):
        folders[columns] = tmp_path_factory.mktemp(f"screen{columns}")
        (folders[columns] / "screen.yaml").write_text(WORKFLOW, encoding="utf-8")

    runs = side_by_side(**{str(columns): lambda c=columns: run_in_pty(
        "run", "screen.yaml", "-j", "2", cwd=folders[c], columns=c) for columns in folders})
    return {columns: runs[str(columns)].result() for columns in folders}


@pytest.mark.parametrize("columns", [60, 80, 160])
def test_every_frame_shows_whole_numbers_under_a_stable_header(
        screens: dict[int, tuple[int, str]], columns: int) -> None:
    code, screen = screens[columns]
    assert code == 0, plain(screen)
    drawn = table_frames(screen)
    assert len(drawn) >= 5, plain(screen)  # the run took seconds: many redraws
    headers = {header for header, _ in drawn}
    assert len(headers) == 1, headers  # the same header row in every frame
    header = headers.pop()
    assert {"stage", "done", "fail", "skip", "state"} <= set(header.split())
    for _, rows in drawn:
        assert len(rows) == 3
        for row in rows:
            assert len(row) < columns, f"wider than the terminal: {row!r}"
            assert not re.search(r"\d…|…\d", row), f"a number cut: {row!r}"
            assert re.fullmatch(r"\d+/(\d+|\?)", cell(row, header, "done")), row
            assert re.fullmatch(r"\d+", cell(row, header, "fail")), row
            assert re.fullmatch(r"\d+", cell(row, header, "skip")), row
    # The last frame stays on screen with the final counts.
    last = dict((row.split()[0], row) for row in drawn[-1][1])
    assert cell(last[next(k for k in last if k.startswith("orient"))], header, "done") == "40/40"
    assert cell(last["brightness"], header, "done") == "40/40"


def test_a_wide_terminal_shows_every_column_and_the_whole_bar(
        screens: dict[int, tuple[int, str]]) -> None:
    header, rows = table_frames(screens[160][1])[-1]
    assert header.split() == ALL
    assert rows[0].split()[0] == LONG
    assert "████████████████" in rows[0]  # sixteen cells: the bar at full length


def test_at_80_columns_the_bar_goes_first_and_the_numbers_stay(
        screens: dict[int, tuple[int, str]]) -> None:
    header, rows = table_frames(screens[80][1])[-1]
    assert header.split() == [c for c in ALL if c != "progress"]
    assert "█" not in rows[0] and "░" not in rows[0]
    label = rows[0].split()[0]  # shortened in the middle: its first and last steps stay
    assert label in ("orient→shrink→…→save", "orient→…→save")
    assert rows[0].split()[-1] == "done"


def test_at_60_columns_the_counts_and_state_remain(
        screens: dict[int, tuple[int, str]]) -> None:
    header, rows = table_frames(screens[60][1])[-1]
    names = header.split()
    assert names[0] == "stage" and names[-1] == "state"
    assert {"done", "fail", "skip", "eta"} <= set(names) and "progress" not in names
    label = rows[0].split()[0]
    assert label.startswith("orient") and label.endswith("save") and "…" in label
    assert [row.split()[-1] for row in rows] == ["done", "done", "done"]


def test_no_width_leaves_out_a_count_and_what_fits_is_never_wider() -> None:
    needs = {"stage": len(LONG), "mode": 7, "progress": 16, "done": 11, "fail": 5, "skip": 5,
             "/s": 5, "time": 5, "eta": 5, "state": 9}
    previous = None
    for room in range(31, 200):  # 31: the stage in 3 characters and the counts
        layout = fit(room, needs)
        assert {"stage", "done", "fail", "skip"} <= set(layout.columns)
        for column in ("done", "fail", "skip"):
            assert layout.width(column) == needs[column]  # never narrower than its number
        assert layout.line <= room
        if previous is not None:  # a wider terminal never shows fewer columns
            assert set(previous.columns) <= set(layout.columns)
        previous = layout
    assert fit(200, needs).columns == tuple(ALL)


def test_a_long_stage_name_gives_up_its_middle_first() -> None:
    assert shorten(LONG, 30) == LONG
    assert shorten(LONG, 20) == "orient→shrink→…→save"
    assert shorten(LONG, 14) == "orient→…→save"
    assert shorten(LONG, 8) == "orie…ave"


# --- the command line's first words -----------------------------------------------------
NUMBERS = """\
flow: 1
name: numbers
inputs:
  numbers:
    range: {start: 0, stop: 50}
steps:
  - id: square
    from: numbers
    uses: numeric.square
"""


def test_flow_alone_prints_the_help(flow) -> None:
    out = flow()
    assert out.returncode == 0 and out.stderr == ""
    assert out.stdout.startswith("usage: flow")
    for command in ("run", "validate", "graph", "steps", "schema"):
        assert f"\n    {command} " in out.stdout


def test_flow_version(flow) -> None:
    from runner import __version__

    out = flow("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"flow {__version__}"


@pytest.mark.parametrize("jobs", ["0", "-2", "many"])
def test_jobs_below_one_are_refused(flow, tmp_path, jobs: str) -> None:
    (tmp_path / "numbers.yaml").write_text(NUMBERS, encoding="utf-8")
    out = flow("run", "numbers.yaml", "-j", jobs)
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"-j/--jobs: expected a whole number of workers, 1 or more; got '{jobs}'" \
        in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / ".flow").exists()


def test_more_jobs_than_cpus_says_how_many_it_uses(flow, tmp_path) -> None:
    cpus = len(os.sched_getaffinity(0))
    (tmp_path / "numbers.yaml").write_text(NUMBERS, encoding="utf-8")
    out = flow("run", "numbers.yaml", "-j", str(cpus + 6))
    assert out.returncode == 0, out.stderr
    s = "s" * (cpus != 1)
    assert out.stderr.splitlines() == [
        f"using {cpus} worker{s} (-j {cpus + 6}): this machine has {cpus} CPU{s}"]
    # As many as asked, or the CPUs' count reached by the items alone: nothing to say.
    assert flow("run", "numbers.yaml", "-j", "1", "--force").stderr == ""
    (tmp_path / "few.yaml").write_text(NUMBERS.replace("stop: 50", "stop: 1"), encoding="utf-8")
    assert flow("run", "few.yaml", "-j", str(cpus + 6)).stderr == ""
