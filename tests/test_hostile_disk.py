"""A full disk: an output is whole under its name or absent, and the item says why.

The output folder (or the whole working directory) is a small tmpfs, filled to the
byte with a filler file, and the real ``flow`` command writes real JPEGs into it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_flow
from tests.hostile_kit import PAGE, decodes, leave_free, make_photo, remount, tmpfs, write

SAVE_WF = """\
flow: 1
name: full
params:
  out: out
inputs:
  photos: {{glob: "photos/*.jpg"}}
steps:
  - id: save
    from: photos
    uses: image.save
    with: {{to: "${{out}}/{{stem}}.jpg", quality: 95{options}}}
"""
NO_SPACE = "no space left on device"


def report(folder: Path) -> dict:
    return json.loads((folder / "report.json").read_text())


def reasons(rep: dict) -> list[str]:
    return [f["reason"] for f in rep["failures"]]


@pytest.mark.parametrize("options", ["", ", optimize: true"], ids=["chunked", "one_write"])
def test_a_jpeg_cut_short_by_a_full_disk_fails_and_nothing_is_renamed(tmp_path, options):
    """Pillow's JPEG encoder writes straight to the file descriptor and takes a short
    last write for success: the file must still not be renamed into place."""
    make_photo(tmp_path / "photos" / "big.jpg", (2000, 1500), seed=3)  # ends mid-block
    write(tmp_path, "wf.yaml", SAVE_WF.format(options=options))
    ref = run_flow("run", "wf.yaml", "--no-live", "-p", "out=ref", cwd=tmp_path)
    assert ref.returncode == 0, ref.stdout + ref.stderr
    size = (tmp_path / "ref" / "big.jpg").stat().st_size
    # The encoder writes 64 KiB blocks (with optimize, the whole file at once): leave
    # room for all but the tail of the last block, so only that write comes up short.
    block = size if options else 65536
    free = (size - 1) // PAGE * PAGE
    assert free > (size - 1) // block * block, f"{size} bytes: the last block fits a page"
    out = tmp_path / "out"
    with tmpfs(out):
        leave_free(out, free)
        res = run_flow("run", "wf.yaml", "--no-live", "--report", "report.json", cwd=tmp_path)
        assert res.returncode == 1, res.stdout + res.stderr
        assert "Traceback" not in res.stdout + res.stderr
        assert sorted(p.name for p in out.iterdir()) == ["filler"]  # no output, no .part
        (reason,) = reasons(report(tmp_path))
        assert NO_SPACE in reason.lower(), reason
        assert "out/big.jpg" in reason, reason
        # Room made: the next run makes it (a partial file would have been "up to date").
        (out / "filler").unlink()
        again = run_flow("run", "wf.yaml", "--no-live", "--report", "report.json",
                         cwd=tmp_path)
        assert again.returncode == 0, again.stdout + again.stderr
        assert [(s["done"], s["skipped"]) for s in report(tmp_path)["stages"]] == [(1, 0)]
        assert (out / "big.jpg").read_bytes() == (tmp_path / "ref" / "big.jpg").read_bytes()


def test_photos_filling_the_disk_are_each_whole_or_absent_and_the_rest_made_later(tmp_path):
    for i in range(8):
        make_photo(tmp_path / "photos" / f"p{i}.jpg", (2000, 1500), seed=i)
    write(tmp_path, "wf.yaml", SAVE_WF.format(options=""))
    out = tmp_path / "out"
    with tmpfs(out, "5m"):
        leave_free(out, 1024 * 1024)  # room for three or four of the eight
        res = run_flow("run", "wf.yaml", "--no-live", "--report", "report.json", cwd=tmp_path)
        assert res.returncode == 1, res.stdout + res.stderr
        assert "Traceback" not in res.stdout + res.stderr
        made = sorted(p.name for p in out.iterdir() if p.name != "filler")
        assert all(not n.startswith(".") for n in made), made  # no temporary file left
        assert 1 <= len(made) < 8, made
        assert all(decodes(out / n) for n in made), made
        rep = report(tmp_path)
        assert len(rep["failures"]) == 8 - len(made)
        assert all(NO_SPACE in r.lower() for r in reasons(rep)), reasons(rep)
        remount(out, "50m")
        again = run_flow("run", "wf.yaml", "--no-live", "--report", "report.json",
                         cwd=tmp_path)
        assert again.returncode == 0, again.stdout + again.stderr
        assert [(s["done"], s["skipped"]) for s in report(tmp_path)["stages"]] == \
            [(8 - len(made), len(made))]
        assert all(decodes(out / f"p{i}.jpg") for i in range(8))


def test_the_record_on_a_full_disk_is_one_line_not_a_traceback(tmp_path):
    """The working directory's disk is full (its output folder is another, with room):
    ``.flow``'s record of what is made cannot be written, which is found before any
    work starts (exit 2, one clear line), not after all the work is done."""
    work = tmp_path / "work"
    with tmpfs(work, "5m"), tmpfs(work / "out", "5m"):
        make_photo(work / "photos" / "small.jpg", (160, 120))
        write(work, "wf.yaml", SAVE_WF.format(options=""))
        leave_free(work, 0)
        res = run_flow("run", "wf.yaml", "--no-live", cwd=work)
        text = res.stdout + res.stderr
        assert res.returncode == 2, text
        assert "Traceback" not in text and "internal error" not in text, text
        assert "cannot write flow's record in .flow" in res.stderr, text
        assert "disk is full" in res.stderr, text
        assert not (work / "out" / "small.jpg").exists()  # refused before any work


def test_images_passed_between_stages_on_a_full_disk_fail_with_the_reason(tmp_path):
    """An image crossing a stage boundary is spilled under ``.flow``: no room there
    fails those items with the reason, nothing else."""
    work = tmp_path / "work"
    with tmpfs(work, "5m"):
        for i in range(4):
            make_photo(work / "photos" / f"p{i}.jpg", (2000, 1400), seed=i)
        write(work, "wf.yaml", """\
flow: 1
name: sheet
inputs:
  photos: {glob: "photos/*.jpg"}
steps:
  - id: gray
    from: photos
    uses: image.grayscale
  - id: sheet
    uses: image.contact_sheet
    with: {to: "out/sheet.jpg", columns: 2, tile: 200}
""")
        # Room for flow's record and the sheet, not for the images it takes (2.8 MB each).
        leave_free(work, 512 * PAGE)
        res = run_flow("run", "wf.yaml", "--no-live", "--report", str(tmp_path / "report.json"),
                       cwd=work)
        text = res.stdout + res.stderr
        assert res.returncode == 1, text
        assert "Traceback" not in text and "internal error" not in text, text
        rs = [f["reason"] for f in report(tmp_path)["failures"] if f["step"] == "gray"]
        assert len(rs) == 4 and all(NO_SPACE in r.lower() for r in rs), rs


@pytest.mark.parametrize("values,code", [("[1, 2, 3]", 0), ('[1, "a", 3]', 1)])
def test_a_report_on_a_full_disk_is_one_line_and_the_run_keeps_its_exit_code(tmp_path, values,
                                                                            code):
    """``--report`` into a folder whose disk is full: the run is told as ever, then one
    line says the report could not be written and why; the exit code is the run's own
    (0 done, 1 a failed item), and no part of a report is left there."""
    write(tmp_path, "wf.yaml", f"""\
flow: 1
name: reported
inputs:
  xs: {{values: {values}}}
steps:
  - {{id: square, from: xs, uses: numeric.square}}
""")
    reports = tmp_path / "reports"
    with tmpfs(reports, "64k"):
        leave_free(reports, 0)
        res = run_flow("run", "wf.yaml", "--no-live", "--report", "reports/run.json",
                       cwd=tmp_path)
        text = res.stdout + res.stderr
        assert res.returncode == code, text
        assert "Traceback" not in text and "internal error" not in text, text
        assert res.stdout.startswith("[00:00") and "reported: " in res.stdout, text
        last = res.stderr.strip().splitlines()[-1]
        assert "reports/run.json" in last and NO_SPACE in last, text
        assert sorted(p.name for p in reports.iterdir()) == ["filler"]
