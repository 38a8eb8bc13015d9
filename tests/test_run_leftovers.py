"""What a run leaves behind and what it says at its end, whatever happened around it.

A reader that goes away (``flow run … | head``) does not turn failed items into
success; the spill folders of runs that were killed are removed by the next run, a
live run's are not; ``outputs:`` names only folders that exist; and one run's sweep
of temporary files never takes the files another live run is writing into the same
folder. Through the real ``flow`` command, with real processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from tests import faults
from tests.conftest import flow_env, run_flow
from tests.timing import limit


def test_a_reader_that_goes_away_does_not_hide_failed_items(tmp_path):
    (tmp_path / "wf.yaml").write_text("""\
flow: 1
name: piped
inputs:
  xs: {values: [0, 1, 2, 3, 4, 5, 6, 7]}
steps:
  - {id: nap, from: xs, uses: util.sleep, with: {seconds: 0.2}, parallel: {workers: 1}}
  - {id: bad, uses: "py:tests.faults:fail_at", with: {at: 6}}
""")
    faults.beside(tmp_path)  # py: reaches only the workflow's folder
    proc = subprocess.Popen([sys.executable, "-m", "runner", "run", "wf.yaml"], cwd=tmp_path,
                            env=flow_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()  # `| head -1`: one line, then the reader is gone
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1, err
    assert b"run piped" in first
    assert "Traceback" not in err and "Exception ignored" not in err, err


def test_spill_folders_of_killed_runs_are_removed_and_a_live_runs_are_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid now belongs to no process
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        spills = tmp_path / ".flow" / "tmp"
        for pid in (dead.pid, live.pid):
            (spills / str(pid)).mkdir(parents=True)
            (spills / str(pid) / "spill.png").write_bytes(b"pixels")
        (tmp_path / "wf.yaml").write_text("""\
flow: 1
name: spills
inputs:
  xs: {range: {start: 0, stop: 3}}
steps:
  - {id: total, from: xs, uses: numeric.sum}
""")
        res = run_flow("run", "wf.yaml", "--no-live", cwd=tmp_path)
        assert res.returncode == 0, res.stdout + res.stderr
        assert sorted(os.listdir(spills)) == [str(live.pid)]
        assert (spills / str(live.pid) / "spill.png").read_bytes() == b"pixels"
    finally:
        live.kill()
        live.wait()


def test_outputs_name_only_folders_that_were_made(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "broken.jpg").write_bytes(b"not a picture")
    (tmp_path / "wf.yaml").write_text("""\
flow: 1
name: nothing-made
inputs:
  photos: {glob: "photos/*.jpg"}
steps:
  - {id: save, from: photos, uses: image.save, with: {to: "out/thumbs/{stem}.png"}}
""")
    res = run_flow("run", "wf.yaml", "--no-live", "--report", "report.json", cwd=tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    assert not (tmp_path / "out").exists()
    assert json.loads((tmp_path / "report.json").read_text())["outputs"] == []
    assert "outputs:" not in res.stdout and "out/thumbs" not in res.stdout


SLOW_WRITER = '''\
import os
import time

from steps.atomic import atomic_file


def write_slowly(value, to, inside, go):
    """Write ``value`` to ``to`` through flow's atomic writer, holding its temporary
    file open until the file ``go`` appears (``inside`` says we are there)."""
    with atomic_file(to, "w") as fh:
        fh.write(f"{value}\\n")
        open(inside, "w").close()
        end = time.monotonic() + 60
        while not os.path.exists(go) and time.monotonic() < end:
            time.sleep(0.05)
    return to
'''


def test_one_runs_sweep_leaves_another_live_runs_temporary_files_alone(tmp_path):
    shared, a, b = tmp_path / "shared", tmp_path / "a", tmp_path / "b"
    for folder in (shared, a, b):
        folder.mkdir()
    (a / "slow.py").write_text(SLOW_WRITER)
    (a / "wf.yaml").write_text(f"""\
flow: 1
name: writer-a
inputs:
  xs: {{values: [7]}}
steps:
  - id: write
    from: xs
    uses: py:slow:write_slowly
    with: {{to: "{shared}/a.txt", inside: "{tmp_path}/inside", go: "{tmp_path}/go"}}
""")
    (b / "wf.yaml").write_text(f"""\
flow: 1
name: writer-b
inputs:
  xs: {{values: [1, 2, 3]}}
steps:
  - {{id: total, from: xs, uses: numeric.sum}}
  - {{id: keep, uses: io.write, with: {{to: "{shared}/b.json"}}}}
""")
    run_a = subprocess.Popen([sys.executable, "-m", "runner", "run", "wf.yaml", "--no-live",
                              "--allow-outside"],
                             cwd=a, env=flow_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        end = time.monotonic() + limit(30)
        while not (tmp_path / "inside").exists() and time.monotonic() < end:
            time.sleep(0.05)
        assert (tmp_path / "inside").exists(), "run a never started writing"
        parts = [p.name for p in shared.iterdir() if p.name.endswith(".part")]
        assert len(parts) == 1, parts  # run a's temporary file, its writer alive
        res = run_flow("run", "wf.yaml", "--no-live", "--allow-outside", cwd=b)
        assert res.returncode == 0, res.stdout + res.stderr
        assert parts[0] in os.listdir(shared)  # run b's sweep left it alone
        (tmp_path / "go").touch()
        out, _ = run_a.communicate(timeout=60)
    finally:
        (tmp_path / "go").touch()
        if run_a.poll() is None:
            run_a.kill()
            run_a.communicate()
    assert run_a.returncode == 0, out
    assert (shared / "a.txt").read_text() == "7\n"
    assert json.loads((shared / "b.json").read_text()) == 6
    assert not [p for p in shared.iterdir() if p.name.endswith(".part")]
