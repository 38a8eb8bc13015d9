"""What a run says it made: stage outcomes, reduce results, values that went nowhere.

A stage whose items failed says so (``failed`` when every item failed, ``partial``
when some did); a reduce over an input that lost items to failures says how many it
is missing, and one whose whole input failed gives no value at all. The values a run
ends with (a sum, a mean, a few numbers) are in the summary as JSON, in ``--json``
and in ``--report``; a workflow that ends in a map step that keeps nothing is told
where its values went. Everything through the real ``flow`` command.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.conftest import make_photos, run_flow


def run(tmp_path: Path, text: str, *args: str):
    """``flow run wf.yaml --report report.json ARGS``: the process and the report."""
    (tmp_path / "wf.yaml").write_text(text)
    res = run_flow("run", "wf.yaml", "--report", "report.json", *args, cwd=tmp_path)
    return res, json.loads((tmp_path / "report.json").read_text())


def workflow(source: str, *steps: str) -> str:
    """A workflow of one input ``source`` (``nums: {...}``) and one-line ``steps``."""
    return "flow: 1\nname: results\ninputs:\n  " + source + "\nsteps:\n" + \
        "".join(f"  - {step}\n" for step in steps)


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def stage_rows(summary: str) -> dict[str, list[str]]:
    """The summary's stage table: label -> its cells."""
    lines = summary.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["stage", "mode"])
    rows = {}
    for line in lines[start + 1:]:
        if not line.strip():
            break
        cells = line.split()
        rows[cells[0]] = cells
    return rows


SQUARE = "{id: square, from: nums, uses: numeric.square}"


def run_logs(tmp_path: Path, values: str, *args: str):
    """Logarithms of ``values`` summed: the process, the report and the stages'
    ``label -> (state, done, failed, missing)``."""
    res, report = run(tmp_path, workflow(
        f"nums: {{values: {values}}}", "{id: logs, from: nums, uses: numeric.log}",
        "{id: total, uses: numeric.sum}"), *args)
    assert res.returncode == 1, res.stdout + res.stderr
    return res, report, {s["label"]: (s["state"], s["done"], s["failed"], s["missing"])
                         for s in report["stages"]}


def test_a_stage_whose_every_item_failed_is_failed_and_its_reduce_gives_no_value(tmp_path):
    res, report, states = run_logs(tmp_path, "[-1, -2, -3, -4]", "--json")
    assert states == {"logs": ("failed", 0, 4, 0), "total": ("cancelled", 0, 0, 4)}
    assert "total" not in report["results"]  # no value presented as if complete
    assert report["missing"] == {"total": 4}
    finished = {e["stage"]: e for e in events(res.stdout) if e["event"] == "stage_finished"}
    assert [(e["state"], e["missing"]) for e in finished.values()] == \
        [("failed", 0), ("cancelled", 4)]
    summary = res.stderr  # with --json, the summary goes to stderr
    assert stage_rows(summary)["logs"][-1] == "failed"
    assert "total: no value: all 4 items of its input failed" in summary
    assert "total: 0" not in summary


def test_a_stage_with_some_failures_is_partial_and_its_reduce_says_what_it_misses(tmp_path):
    res, report, states = run_logs(tmp_path, "[1, -2, 1, -4, 1]", "--no-live")
    assert states == {"logs": ("partial", 3, 2, 0), "total": ("partial", 1, 0, 2)}
    assert report["results"] == {"total": 0.0} and report["missing"] == {"total": 2}
    rows = stage_rows(res.stdout)
    assert rows["logs"][-1] == "partial" and rows["total"][-1] == "partial"
    assert "total: 0.0  (partial: 2 items of its input failed)" in res.stdout
    assert "stage logs: partial in" in res.stdout  # the plain line of its end


def test_reduce_results_are_json_in_the_summary_the_json_lines_and_the_report(tmp_path):
    text = workflow("nums: {range: {start: 0, stop: 5000}}", SQUARE,
                    "{id: total, uses: numeric.sum}",
                    "{id: stats, from: nums, uses: numeric.stats}")
    res, report = run(tmp_path, text, "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    total = sum(i * i for i in range(5000))
    assert report["results"]["total"] == total
    assert report["results"]["stats"]["count"] == 5000
    assert report["missing"] == {}
    assert f"  total: {total}" in res.stdout
    line = next(x for x in res.stdout.splitlines() if x.startswith("  stats: "))
    assert json.loads(line.removeprefix("  stats: "))["count"] == 5000  # JSON, not a repr
    res, _ = run(tmp_path, text, "--json")
    [finished] = [e for e in events(res.stdout) if e["event"] == "run_finished"]
    assert finished["result"]["results"]["total"] == total


def test_a_workflow_ending_in_a_map_step_lists_few_values(tmp_path):
    res, report = run(tmp_path, workflow("nums: {values: [1, 2, 3]}", SQUARE), "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    assert report["results"] == {"square": [1, 4, 9]}
    assert "results:\n  square: [1, 4, 9]" in res.stdout


def test_a_workflow_ending_in_a_map_step_says_its_values_were_not_kept(tmp_path):
    res, report = run(tmp_path, workflow("nums: {range: {start: 0, stop: 1000}}", SQUARE),
                      "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    said = "values of step 'square' (1000 items) were not kept: end the workflow with " \
           "io.write to keep them"
    assert said in report["notices"]
    assert said in res.stdout
    assert report["results"] == {}


def test_images_a_workflow_never_saves_are_named(tmp_path):
    make_photos(tmp_path / "photos", count=3, size=(120, 90))
    res, report = run(tmp_path, workflow(
        'photos: {glob: "photos/*.jpg"}',
        "{id: shrink, from: photos, uses: image.thumbnail, with: {size: 32}}"), "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "images of step 'shrink' (3 items) were not saved: end the workflow with " \
           "image.save to keep them" in res.stdout
    assert report["results"] == {}


def test_a_histogram_written_to_csv_has_one_row_per_bin(tmp_path):
    res, _ = run(tmp_path, workflow(
        "nums: {range: {start: 0, stop: 100}}",
        "{id: hist, from: nums, uses: numeric.histogram, with: {bins: 4}}",
        "{id: write, uses: io.write, with: {to: out/hist.csv}}"), "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    with open(tmp_path / "out" / "hist.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows == [["left", "right", "count"], ["0.0", "24.75", "25"], ["24.75", "49.5", "25"],
                    ["49.5", "74.25", "25"], ["74.25", "99", "25"]]
