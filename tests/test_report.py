"""The reporters as a user meets them: the live table, plain lines, JSON Lines, the summary.

Each test feeds a scripted run (the events the engine sends) to a reporter
writing to a real stream (a string buffer behind a rich terminal console, a
file, a pipe) and reads back what a user or a script would read.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.errors import FlowError
from runner.report.events import (
    FailureRecord,
    ItemFailed,
    Notice,
    RunFinished,
    RunResult,
    RunStarted,
    StageFinished,
    StageInfo,
    StageProgress,
    StageStarted,
    StageSummary,
)
from runner.report.plain import JsonReporter, PlainReporter
from runner.report.select import choose_kind, is_terminal, make_reporter
from runner.report.summary import render_summary, write_report
from tests.timing import limit

T0 = 5000.0
SHRINK, BRIGHT, WRITE = "orient→shrink→save", "brightness", "summary→write"
STAGES = (
    StageInfo("s1", SHRINK, "map", 2, 450),
    StageInfo("s2", BRIGHT, "map", 2, 450),
    StageInfo("s3", WRITE, "async", 1, None),
)


def the_result(failures: int = 1, state: str = "failed") -> RunResult:
    fails = tuple(
        FailureRecord("s1", "shrink", f"photos/bad{i}.jpg", "OSError: image file is truncated",
                      2, detail=f"Traceback (most recent call last):\n  boom {i}\nOSError: x")
        for i in range(failures))
    return RunResult(
        workflow="thumbnails", state=state,
        stages=(StageSummary("s1", SHRINK, "map", 2, "done", 450 - failures, failures, 0, 4.5),
                StageSummary("s2", BRIGHT, "map", 2, "done", 450, 0, 0, 1.7),
                StageSummary("s3", WRITE, "async", 1, "done", 1, 0, 0, 0.1)),
        failures=fails, outputs=("build/thumbs", "build/thumbs/summary.json"),
        notices=("3 multi-frame files: first frame used",), seconds=4.8)


def scripted_run(failures: int = 1, steps: int = 450, dt: float = 0.01) -> list:
    """A run's events in order: s2 ends first, s1 ends with `failures` failed, s3 last."""
    ev: list = [RunStarted("thumbnails", STAGES, 2, "local", T0),
                StageStarted("s1", 450, T0 + 0.1), StageStarted("s2", 450, T0 + 0.1)]
    failed = 0
    for i in range(1, steps + 1):
        t = T0 + 0.1 + i * dt
        if failed < failures and i % max(1, steps // (failures + 1)) == 0:
            failed += 1
            ev.append(ItemFailed("s1", "shrink", f"photos/bad{failed - 1}.jpg",
                                 "OSError: image file is truncated", 2, t,
                                 detail="Traceback (most recent call last):\nOSError: x"))
        ev.append(StageProgress("s1", i - failed, failed, 0, 450, t))
        if 2 * i <= 450:
            ev.append(StageProgress("s2", 2 * i, 0, 0, 450, t))
        if 2 * i == 450:
            ev.append(StageFinished("s2", "done", 450, 0, 0, t - T0 - 0.1, t))
    end = T0 + 0.1 + steps * dt
    ev += [Notice("3 multi-frame files: first frame used", end),
           StageFinished("s1", "done", 450 - failures, failures, 0, end - T0 - 0.1, end),
           StageStarted("s3", 1, end), StageProgress("s3", 1, 0, 0, 1, end + 0.05),
           StageFinished("s3", "done", 1, 0, 0, 0.1, end + 0.1),
           RunFinished(the_result(failures), end + 0.2)]
    return ev


def live_console():
    from rich.console import Console

    buf = io.StringIO()
    return buf, Console(file=buf, force_terminal=True, width=120, color_system=None)


# --- the live table ---------------------------------------------------------------------
def test_live_table_shows_every_stage_row_and_keeps_the_last_state(tmp_path: Path) -> None:
    buf, console = live_console()
    reporter = make_reporter("live", sys.stdout, verbose=False, console=console)
    for event in scripted_run():
        reporter.handle(event)
    reporter.close()
    out = buf.getvalue()
    # The final frame, left on screen, is the last thing written.
    last = out[out.rindex("thumbnails · 3 stages · 2 workers"):]
    rows = {line.split()[0]: line for line in last.splitlines() if line.strip()}
    assert "map×2" in rows[SHRINK] and "449/450" in rows[SHRINK] and "done" in rows[SHRINK]
    assert "████████████████" in rows[SHRINK]
    assert "450/450" in rows[BRIGHT] and rows[BRIGHT].split()[-1] == "done"
    assert "async×1" in rows[WRITE] and "1/1" in rows[WRITE]
    header = rows["stage"].split()
    assert header == ["stage", "mode", "progress", "done", "fail", "skip", "/s", "time", "eta",
                      "state"]
    assert "00:04" in last.splitlines()[0]  # the run's elapsed clock, frozen at its end
    # Failed items are listed once, by the summary: never over or under the last frame.
    assert "photos/bad0.jpg" not in last


@pytest.mark.timing
def test_live_table_while_running_shows_progress_rate_eta_and_waiting_rows() -> None:
    buf, console = live_console()
    reporter = make_reporter("live", sys.stdout, console=console)
    reporter.handle(RunStarted("thumbnails", STAGES, 2, "local", T0))
    reporter.handle(StageStarted("s1", 450, T0))
    for i in range(1, 313):
        reporter.handle(StageProgress("s1", i, 0, 0, 450, T0 + i / 104))
    # Progress events draw nothing themselves: rich's own refresh thread draws the table.
    end = time.monotonic() + limit(0.5)
    while "312/450" not in buf.getvalue() and time.monotonic() < end:
        time.sleep(0.01)
    drawn_unasked = buf.getvalue()
    frame = reporter.render()
    reporter.close()
    console.print(frame)
    out = buf.getvalue()
    last = out[out.rindex("thumbnails · 3 stages"):]
    rows = {line.split()[0]: line for line in last.splitlines() if line.strip()}
    cells = rows[SHRINK].split()
    assert cells[1] == "map×2" and cells[3] == "312/450" and cells[-1] == "running"
    assert 100 <= int(cells[6]) <= 104  # items per second over its running time
    assert cells[8] in ("0:01", "0:02")  # 138 items left at ~100/s
    assert "0/450" in rows[BRIGHT] and rows[BRIGHT].split()[-1] == "waiting"
    assert "0/?" in rows[WRITE]  # total not known yet
    assert "312/450" in drawn_unasked  # drawn within 0.5 s, before close() or render()


def test_live_counts_failures_under_the_table_while_running_and_prints_none() -> None:
    buf, console = live_console()
    reporter = make_reporter("live", sys.stdout, console=console)
    events = scripted_run(failures=12)
    for event in events[:-1]:  # all but RunFinished: the run is still on
        reporter.handle(event)
    running = reporter.render()
    reporter.handle(events[-1])
    reporter.close()
    console.print(running)
    out = buf.getvalue()
    under = out[out.rindex("summary→write"):].splitlines()[1]
    assert under.startswith(" 12 failed items so far · latest: photos/bad11.jpg at shrink: ")
    # Nothing printed line by line: the summary lists the failed items, once.
    assert "failed: photos/bad" not in out
    assert sum(f"photos/bad{i}.jpg" in out for i in range(11)) == 0


def test_live_table_marks_stages_the_run_never_finished_as_cancelled() -> None:
    buf, console = live_console()
    reporter = make_reporter("live", sys.stdout, console=console)
    reporter.handle(RunStarted("thumbnails", STAGES, 2, "local", T0))
    reporter.handle(StageStarted("s1", 450, T0))
    reporter.handle(StageProgress("s1", 10, 0, 0, 450, T0 + 1))
    interrupted = RunResult("thumbnails", "interrupted", (), (), (), seconds=1.5)
    reporter.handle(RunFinished(interrupted, T0 + 1.5))
    reporter.close()
    last = buf.getvalue()[buf.getvalue().rindex("thumbnails · 3"):]
    assert [line.split()[-1] for line in last.splitlines()[2:5]] == ["cancelled"] * 3


# --- plain lines ------------------------------------------------------------------------
def test_plain_lines_reach_the_file_as_they_happen(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    with open(log, "w", encoding="utf-8") as stream:
        reporter = make_reporter("plain", stream, verbose=False)
        assert isinstance(reporter, PlainReporter)
        events = scripted_run()
        for event in events[:3]:
            reporter.handle(event)
        # Flushed line by line: a `tail -f` sees the start before the run goes on.
        assert log.read_text(encoding="utf-8").splitlines() == [
            "[00:00.0] run thumbnails: 3 stages, 2 workers (local)",
            f"[00:00.1] stage {SHRINK}: started, 450 items, map×2",
            f"[00:00.1] stage {BRIGHT}: started, 450 items, map×2",
        ]
        for event in events[3:]:
            reporter.handle(event)
        reporter.close()
    lines = log.read_text(encoding="utf-8").splitlines()
    assert any(x.startswith(f"[00:02.3] stage {BRIGHT}: done in 2.")
               and x.endswith("s, 450 done, 0 failed, 200/s") for x in lines)
    assert ("[00:02.3] failed: photos/bad0.jpg at shrink: OSError: image file is truncated "
            "(after 2 attempts)") in lines
    count_lines = [x for x in lines if x.startswith("[") and f"stage {SHRINK}: " in x
                   and "/450 done" in x]
    # 4.5 s of progress: a count every 2 s, not one per event.
    assert [x.split("]")[0] for x in count_lines] == ["[00:02.1", "[00:04.1"]
    assert count_lines[0].endswith("200/450 done, 0 failed, 100/s")
    assert f"[00:04.6] stage {SHRINK}: done in 4.5 s, 449 done, 1 failed, 100/s" in lines
    assert "[00:04.6] note: 3 multi-frame files: first frame used" in lines
    assert lines[-1] == "[00:04.8] run thumbnails: failed in 4.8 s"
    assert not any("Traceback" in x for x in lines)  # details only with --verbose


def test_plain_verbose_shows_the_traceback_under_the_failure() -> None:
    buf = io.StringIO()
    reporter = PlainReporter(buf, verbose=True)
    for event in scripted_run():
        reporter.handle(event)
    text = buf.getvalue()
    assert "failed: photos/bad0.jpg at shrink" in text
    assert "\n    Traceback (most recent call last):\n    OSError: x\n" in text


def test_a_closed_pipe_does_not_stop_the_run() -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)  # `flow run | head` after head has exited
    stream = os.fdopen(write_fd, "w")
    for kind in ("plain", "json"):
        reporter = make_reporter(kind, stream)
        for event in scripted_run():
            reporter.handle(event)  # must not raise BrokenPipeError
        reporter.close()
    with contextlib.suppress(BrokenPipeError):
        stream.close()  # the test's own stream still holds the unsent line


# --- JSON Lines -------------------------------------------------------------------------
def test_json_lines_carry_every_event_in_order_with_throttled_progress(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    events = scripted_run()
    with open(path, "w", encoding="utf-8") as stream:
        reporter = make_reporter("json", stream)
        assert isinstance(reporter, JsonReporter)
        for event in events:
            reporter.handle(event)
        reporter.close()
    docs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    names = [d["event"] for d in docs]
    # Every event but progress comes through, in the order it was sent.
    others = [d for d in docs if d["event"] != "stage_progress"]
    sent = [e for e in events if not isinstance(e, StageProgress)]
    assert [d["event"] for d in others] == ["run_started", "stage_started", "stage_started",
                                            "item_failed", "stage_finished", "notice",
                                            "stage_finished", "stage_started",
                                            "stage_finished", "run_finished"]
    assert [d["t"] for d in others] == [e.t for e in sent]
    assert docs[0]["stages"][0] == {"id": "s1", "label": SHRINK, "mode": "map", "workers": 2,
                                    "total": 450}
    failed = others[3]
    assert failed["item"] == "photos/bad0.jpg" and failed["reason"].startswith("OSError")
    # Progress: at most ~5 a second per stage (s1 ran 4.5 s), never one per event (900).
    for stage, seconds in (("s1", 4.5), ("s2", 2.25)):
        times = [d["t"] for d in docs if d["event"] == "stage_progress" and d["stage"] == stage]
        assert 2 <= len(times) <= 5 * seconds + 2
        gaps = [b - a for a, b in zip(times, times[1:-1], strict=False)]
        assert all(g >= 0.19 for g in gaps)
    # The final counts always arrive before the stage's end.
    end_s1 = names.index("stage_finished", names.index("notice"))
    last_s1 = max(i for i, d in enumerate(docs)
                  if d["event"] == "stage_progress" and d["stage"] == "s1")
    assert last_s1 < end_s1 and docs[last_s1]["done"] == 449 and docs[last_s1]["failed"] == 1
    result = docs[-1]["result"]
    assert result["exit_code"] == 1 and result["failures"][0]["item"] == "photos/bad0.jpg"
    assert "values" not in result


# --- the summary and the report ---------------------------------------------------------
def test_summary_lists_counts_failures_notices_and_outputs() -> None:
    text = render_summary(the_result(failures=2))
    lines = text.splitlines()
    assert lines[0] == "thumbnails: finished in 4.8 s with 2 failed items"
    stage_line = next(x for x in lines if x.strip().startswith(SHRINK))
    assert stage_line.split() == [SHRINK, "map×2", "448", "2", "0", "4.5", "s", "done"]
    assert "2 failed items:" in lines
    assert ("  photos/bad1.jpg at shrink: OSError: image file is truncated (after 2 attempts)"
            in lines)
    assert "  3 multi-frame files: first frame used" in lines
    assert lines[-3:] == ["outputs:", "  build/thumbs", "  build/thumbs/summary.json"]
    assert "Traceback" not in text


def test_summary_caps_failures_unless_verbose() -> None:
    result = the_result(failures=45)
    short = render_summary(result)
    assert "photos/bad19.jpg" in short and "photos/bad20.jpg" not in short
    assert "… 25 more (see --report)" in short
    full = render_summary(result, verbose=True)
    assert "photos/bad44.jpg" in full and "      boom 44" in full


def test_summary_headlines_say_how_the_run_ended() -> None:
    ok = RunResult("sq", "done", (StageSummary("s1", "square", "map", 2, "done", 10, 0, 0, 0.2),),
                   (), (), values={"total": 285})
    assert render_summary(ok).splitlines()[0] == "sq: done in 0.00 s"
    assert "results:\n  total: 285" in render_summary(ok)
    fresh = RunResult("sq", "done",
                      (StageSummary("s1", "square", "map", 2, "done", 0, 0, 10, 0.01),), (), ())
    assert render_summary(fresh).startswith("sq: up to date (10 items skipped)")
    bad = FailureRecord("s1", "square", "item 3 (value 3)", "ValueError: no", 1)
    stopped = RunResult("sq", "stopped", (), (bad,), (), stopped_by=bad, seconds=0.5)
    text = render_summary(stopped)
    assert text.startswith("sq: stopped at a failed item (on_error: stop) after 0.50 s")
    assert "  stopped by: item 3 (value 3) at square: ValueError: no" in text
    assert render_summary(RunResult("sq", "interrupted", (), (), (), seconds=2)).startswith(
        "sq: interrupted after 2.0 s")


def test_report_file_is_written_whole_and_replaces_the_old_one(tmp_path: Path) -> None:
    report = tmp_path / "out" / "report.json"
    write_report(the_result(failures=3), report)
    doc = json.loads(report.read_text(encoding="utf-8"))
    assert doc["exit_code"] == 1 and doc["state"] == "failed"
    assert [s["seconds"] for s in doc["stages"]] == [4.5, 1.7, 0.1]
    assert doc["failures"][2] == {"stage": "s1", "step": "shrink", "item": "photos/bad2.jpg",
                                  "reason": "OSError: image file is truncated", "attempts": 2,
                                  "detail": "Traceback (most recent call last):\n  boom 2\n"
                                            "OSError: x"}
    write_report(the_result(failures=0, state="done"), report)
    assert json.loads(report.read_text(encoding="utf-8"))["exit_code"] == 0
    assert os.listdir(report.parent) == ["report.json"]  # no temporary file left beside it
    assert report.stat().st_mode & 0o044  # readable by others, as a report is for sharing


def test_report_that_cannot_be_written_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file, not a folder")
    with pytest.raises(FlowError) as err:
        write_report(the_result(), tmp_path / "blocker" / "report.json")
    assert "cannot write the report" in str(err.value)
    assert "blocker" in str(err.value)


# --- choosing, speed and start-up -------------------------------------------------------
def test_reporter_kind_follows_the_stream_and_the_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    master, slave = os.openpty()
    with os.fdopen(slave, "w") as tty:
        monkeypatch.setenv("TERM", "xterm-256color")
        assert is_terminal(tty) and choose_kind(tty) == "live"
        assert choose_kind(tty, no_live=True) == "plain"
        assert choose_kind(tty, json_lines=True) == "json"
        monkeypatch.setenv("TERM", "dumb")
        assert not is_terminal(tty)
    os.close(master)
    assert not is_terminal(io.StringIO()) and choose_kind(io.StringIO()) == "plain"
    closed = open(os.devnull, "w")  # noqa: SIM115
    closed.close()
    assert not is_terminal(closed)
    with pytest.raises(ValueError):
        make_reporter("fancy", sys.stdout)  # type: ignore[arg-type]


@pytest.mark.timing
@pytest.mark.parametrize("kind", ["live", "plain", "json"])
def test_handle_is_cheap_for_a_flood_of_progress(kind: str) -> None:
    buf, console = live_console()
    reporter = make_reporter(kind, buf, console=console)
    reporter.handle(RunStarted("thumbnails", STAGES, 2, "local", T0))
    reporter.handle(StageStarted("s1", 100_000, T0))
    flood = [StageProgress("s1", i, 0, 0, 100_000, T0 + i * 1e-5) for i in range(100_000)]
    start = time.perf_counter()
    for event in flood:
        reporter.handle(event)
    took = time.perf_counter() - start
    reporter.close()
    assert took < limit(0.5), f"{kind}: 100k progress events took {took:.2f} s"


def test_choosing_a_reporter_does_not_import_rich() -> None:
    code = ("import sys, runner.report.select, runner.report.plain, runner.report.summary;"
            "print('rich' in sys.modules)")
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert "rich" not in out.stderr  # -X importtime lists every module imported
