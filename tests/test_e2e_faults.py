"""Faults end to end: the real `flow` command, real workflow files, real files, real faults.

Each test runs ``python -m runner run ...`` in a subprocess in tmp_path and checks
what a user would see: the exit code, the summary, the files on disk, the processes
left behind. Faults come from tests/faults.py (``uses: py:tests.faults:NAME``).
Timings are measured against flow's own ``--json`` event times (wall clock) or
from the moment the test sends a signal, and printed (``pytest -s`` shows them); the
limits they are held to go through ``tests.timing.limit`` (marker ``timing``).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from tests.conftest import flow_env, run_flow
from tests.faults import beside, descendants_of, wait_gone
from tests.make_corpus import make_corpus
from tests.timing import limit

PART_GLOB = ".*.part"


# ------------------------------------------------------------------------------------ helpers

def write_wf(folder: Path, text: str, name: str = "wf.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if "py:tests.faults:" in text:
        beside(path.parent)
    return path


def start_flow(cwd: Path, *args: str, **kw) -> subprocess.Popen:
    """``flow run ARGS`` in its own session (so flow's pid is the session and group id)."""
    return subprocess.Popen([sys.executable, "-m", "runner", "run", *args], cwd=cwd,
                            env=flow_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, **kw)


@contextlib.contextmanager
def running_flow(cwd: Path, *args: str, **kw) -> Iterator[subprocess.Popen]:
    """:func:`start_flow`; whatever the test does, nothing of that session outlives it."""
    proc = start_flow(cwd, *args, **kw)
    try:
        yield proc
    finally:
        for pid in [proc.pid, *session_members(proc.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.communicate(timeout=10)


def session_members(sid: int) -> list[int]:
    """Live (not zombie) processes whose session or process group is ``sid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        state, pgrp, session = fields[0], int(fields[2]), int(fields[3])
        if state not in (b"Z", b"X") and sid in (pgrp, session):
            found.append(int(entry))
    return sorted(found)


def wait_session_empty(sid: int, timeout: float) -> list[str]:
    """Wait until no process of session ``sid`` is alive; the ones left, described."""
    end = time.monotonic() + timeout
    left = session_members(sid)
    while left and time.monotonic() < end:
        time.sleep(0.02)
        left = session_members(sid)
    return describe(left)


def describe(pids: list[int]) -> list[str]:
    out = []
    for p in pids:
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            cmd = "?"
        out.append(f"{p}: {cmd[:120]}")
    return out


def photo(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """A noisy photo-like RGB image: big PNGs of it take a while to write (~0.3 s at 1200x900)."""
    w, h = size
    grad = Image.linear_gradient("L").resize((w, h))
    noise = Image.effect_noise((w, h), 30 + 5 * seed)
    radial = Image.radial_gradient("L").resize((w, h))
    return Image.merge("RGB", (ImageChops.add(grad, noise, scale=1.6, offset=-40), radial,
                               ImageChops.add(radial.rotate(90 + 30 * seed), noise, scale=2.0)))


def save_photo(path: Path, size: tuple[int, int], seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    photo(size, seed).save(path, quality=90)
    return path


def load_ok(path: Path) -> tuple[int, int]:
    """Fully decode ``path``; its size. Raises if the file is not a whole image."""
    with Image.open(path) as im:
        im.load()
        return im.size


def tree(root: Path) -> dict[str, bytes | str]:
    """Every file (contents) and symlink (target) under ``root``, for before/after checks."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_file():
                out[rel] = p.read_bytes()
    return out


def json_events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def read_stamp(path: Path) -> float:
    return float(path.read_text().split()[0])


def failure_lines(summary: str) -> list[str]:
    """The lines of the summary's "N failed items:" block."""
    lines = summary.splitlines()
    for i, line in enumerate(lines):
        if line.rstrip().endswith(("failed item:", "failed items:")):
            block = []
            for rest in lines[i + 1:]:
                if not rest.startswith("  "):
                    break
                block.append(rest.strip())
            return block
    return []


@pytest.fixture(scope="module")
def big_photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Six noisy 1200x900 JPEGs, made once; tests copy them."""
    folder = tmp_path_factory.mktemp("big")
    return [save_photo(folder / f"photo_{i:02d}.jpg", (1200, 900), i) for i in range(6)]


def copy_photos(photos: list[Path], dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(p, dest / p.name)) for p in photos]


SLOW_SAVE_WF = """\
flow: 1
name: slowsave
defaults:
  parallel: {mode: map, workers: 2, chunksize: 1}  # one by one: saves start at different times
inputs:
  photos: {glob: "photos/*.jpg"}
steps:
  - id: orient
    from: photos
    uses: image.auto_orient
  - id: nap
    uses: py:tests.faults:sleep_at
    with: {seconds: 0.2}
  - id: save
    uses: image.save
    with: {to: "out/{stem}.png"}
"""


def loads(path: Path) -> bool:
    try:
        load_ok(path)
        return True
    except Exception:  # noqa: BLE001 - Pillow raises many kinds on a partial file
        return False


def wait_mid_save(proc: subprocess.Popen, out: Path, timeout: float = 8.0) -> None:
    """Block until an output is whole and another is being written.

    "Being written" is a temporary ``.*.part`` file, or (a writer that skips the
    temporary name) a file under its final name that is not a whole image yet.
    """
    end = time.monotonic() + limit(timeout)
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"flow ended early ({proc.returncode}): {proc.communicate()}")
        finals = sorted(out.glob("*.png")) if out.is_dir() else []
        if finals and list(out.glob(PART_GLOB)):
            return
        if len(finals) >= 2 and not all(loads(p) for p in finals):
            return
        time.sleep(0.002)
    pytest.fail("no output was being written in time")


def assert_outputs_whole(out: Path, size: tuple[int, int]) -> list[Path]:
    made = sorted(out.glob("*.png"))
    for p in made:
        assert load_ok(p) == size, p
    return made


# ------------------------------------------------------------- 1. a worker killed by SIGKILL

@pytest.mark.timing
@pytest.mark.parametrize("mode, jobs", [("map", "2"), ("async", "2"),
                                        ("map", "1")])  # one worker: only its replacement goes on
def test_worker_sigkilled_fails_that_item_only(tmp_path, mode, jobs):
    stamp = tmp_path / "killed.stamp"
    write_wf(tmp_path, f"""\
flow: 1
name: killer
defaults:
  parallel: {{mode: {mode}}}
inputs:
  xs: {{range: {{start: 0, stop: 20}}}}
steps:
  - id: die
    from: xs
    uses: py:tests.faults:kill_stamped
    with: {{at: 7, stamp: "{stamp}"}}
  - id: sq
    uses: numeric.square
  - id: out
    uses: io.write
    with: {{to: squares.json, as_list: true}}
""")
    t0 = time.monotonic()
    res = run_flow("run", "wf.yaml", "--json", "-j", jobs, cwd=tmp_path, timeout=30)
    took = time.monotonic() - t0
    assert res.returncode == 1, res.stdout + res.stderr
    assert stamp.exists(), "the fault never fired"
    lines = failure_lines(res.stderr)  # with --json the summary goes to stderr
    assert len(lines) == 1, res.stderr
    assert "item 7" in lines[0] and "SIGKILL" in lines[0], lines
    assert json.loads((tmp_path / "squares.json").read_text()) == \
        [i * i for i in range(20) if i != 7]
    assert "Traceback" not in res.stdout + res.stderr
    events = json_events(res.stdout)
    assert events[0]["event"] == "run_started" and events[0]["workers"] == int(jobs)
    failed = [e for e in events if e["event"] == "item_failed"]
    assert len(failed) == 1
    noticed = failed[0]["t"] - read_stamp(stamp)
    print(f"\n[timing] killed worker ({mode}, -j {jobs}) noticed after {noticed:.3f} s "
          f"(whole run {took:.2f} s)")
    assert noticed < limit(2.0)
    assert took < limit(10)


def kill_once_wf(folder: Path, retries: int, chunksize: str) -> Path:
    """20 numbers; the worker holding 7 is SIGKILLed the first time only (a flag file)."""
    flag = folder / "killed-once.flag"
    write_wf(folder, f"""\
flow: 1
name: retry
inputs:
  xs: {{range: {{start: 0, stop: 20}}}}
steps:
  - id: die
    from: xs
    uses: py:tests.faults:kill_once
    with: {{at: 7, flag: "{flag}"}}
    retries: {retries}
    parallel: {{chunksize: {chunksize}}}
  - id: sq
    uses: numeric.square
  - id: out
    uses: io.write
    with: {{to: squares.json, as_list: true}}
""")
    return flag


@pytest.mark.parametrize("chunksize", ["auto", "1"])
def test_worker_killed_once_is_retried_and_succeeds(tmp_path, chunksize):
    flag = kill_once_wf(tmp_path, retries=1, chunksize=chunksize)
    res = run_flow("run", "wf.yaml", "--no-live", "--report", "report.json",
                   cwd=tmp_path, timeout=30)
    assert flag.exists(), "the worker was never killed"
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads((tmp_path / "squares.json").read_text()) == [i * i for i in range(20)]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["failures"] == []


@pytest.mark.parametrize("chunksize", ["auto", "1"])
def test_worker_killed_once_without_retries_fails_the_item(tmp_path, chunksize):
    """The control for the test above: with ``retries: 0`` the killed item is not run again."""
    flag = kill_once_wf(tmp_path, retries=0, chunksize=chunksize)
    res = run_flow("run", "wf.yaml", "--no-live", "--report", "report.json",
                   cwd=tmp_path, timeout=30)
    assert flag.exists(), "the worker was never killed"
    assert res.returncode == 1, res.stdout + res.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert [(f["item"], f["attempts"]) for f in report["failures"]] == [("item 7 (7)", 1)]
    assert "SIGKILL" in report["failures"][0]["reason"]
    assert json.loads((tmp_path / "squares.json").read_text()) == \
        [i * i for i in range(20) if i != 7]


# ------------------------------------------------------------------------------ 2. timeout

@pytest.mark.timing
@pytest.mark.parametrize("mode", ["map", "async", "serial"])
def test_timeout_ends_three_sleeping_items_in_seconds(tmp_path, mode):
    write_wf(tmp_path, f"""\
flow: 1
name: sleepy
inputs:
  xs: {{values: [1, 2, 3]}}
steps:
  - id: nap
    from: xs
    uses: util.sleep
    with: {{seconds: 30}}
    timeout: 1
    parallel: {{mode: {mode}}}
""")
    t0 = time.monotonic()
    with running_flow(tmp_path, "wf.yaml", "--json") as proc:
        try:
            out, err = proc.communicate(timeout=limit(10))
        except subprocess.TimeoutExpired:
            pytest.fail(f"mode {mode}: flow still running after {limit(10):g} s: `timeout: 1` "
                        "not enforced")
        took = time.monotonic() - t0
        # The sleeping workers were ended, not left to finish their 30 s.
        left = wait_session_empty(proc.pid, limit(1.0))
    assert proc.returncode == 1, out + err
    assert took < limit(6), f"took {took:.1f} s"
    lines = failure_lines(err)
    assert len(lines) == 3, err
    for i, v in enumerate((1, 2, 3)):
        assert any(f"item {i} ({v})" in ln and "timed out after 1 s" in ln for ln in lines), lines
    assert left == []
    events = json_events(out)
    started = next(e["t"] for e in events if e["event"] == "stage_started")
    late = [e["t"] - started for e in events if e["event"] == "item_failed"]
    print(f"\n[timing] timeout 1 s ({mode}) noticed after {min(late):.2f} s; 3 items ended by "
          f"{max(late):.2f} s; whole run {took:.2f} s")
    assert min(late) < limit(2.0)


# --------------------------------------------------------------------- 3. odd exceptions

# (step id, fault step, kind, item value, what its failure line must say)
ODD_STEPS = [
    ("oddinit", "raise_at", "odd_init", 1, "OddInit: odd failure 7: value 1"),
    ("base", "raise_at", "base", 2, "BaseFailure: base failure at 2"),
    ("sysexit", "raise_at", "system_exit", 3, "SystemExit"),
    ("badstr", "raise_at", "bad_str", 4, "BadStr"),
    ("unpick", "raise_at", "unpicklable", 5, "Unpicklable: cannot travel 5"),
    ("kbd", "raise_at", "keyboard", 6, "KeyboardInterrupt"),
    # results that cannot travel back to flow: no reason text required
    ("lam", "odd_value_at", "lambda", 7, ""),
    ("oddval", "odd_value_at", "odd_exception", 8, ""),
]
# In flow's own process (serial) a KeyboardInterrupt is the user's Ctrl-C, and
# results need not travel: those three are left out there.
SERIAL_SKIP = {"kbd", "lam", "oddval"}


def odd_wf(folder: Path, mode: str) -> list[tuple]:
    steps = [s for s in ODD_STEPS if mode != "serial" or s[0] not in SERIAL_SKIP]
    text = f"""\
flow: 1
name: odd
defaults:
  parallel: {{mode: {mode}}}
inputs:
  xs: {{range: {{start: 0, stop: 10}}}}
steps:
"""
    for i, (sid, fn, kind, at, _) in enumerate(steps):
        text += f"  - id: {sid}\n" + ("    from: xs\n" if i == 0 else "")
        text += f"    uses: py:tests.faults:{fn}\n    with: {{kind: {kind}, at: {at}}}\n"
    text += "  - id: out\n    uses: io.write\n    with: {to: survivors.json, as_list: true}\n"
    write_wf(folder, text)
    return steps


@pytest.mark.parametrize("mode", ["map", "async", "serial"])
def test_odd_exceptions_fail_their_item_with_type_no_traceback(tmp_path, mode):
    steps = odd_wf(tmp_path, mode)
    res = run_flow("run", "wf.yaml", "--no-live", cwd=tmp_path, timeout=30)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    lines = failure_lines(res.stdout)
    assert len(lines) == len(steps), res.stdout
    for sid, _, _, value, says in steps:
        line = next((ln for ln in lines if ln.startswith(f"item {value} ({value}) ")), None)
        assert line is not None, (value, lines)
        if says:  # (a result is only found unsendable at the stage's end: any step will do)
            assert f" at {sid}: {says}" in line, line
    failed = {at for _, _, _, at, _ in steps}
    assert json.loads((tmp_path / "survivors.json").read_text()) == \
        [v for v in range(10) if v not in failed]


def test_odd_exceptions_with_verbose_show_the_traceback(tmp_path):
    odd_wf(tmp_path, "map")
    res = run_flow("run", "wf.yaml", "--no-live", "--verbose", cwd=tmp_path, timeout=30)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Traceback" in res.stdout
    assert 'raise OddInit(7, f"value {value}")' in res.stdout
    assert "raise BaseFailure(" in res.stdout


# ------------------------------------------------------------------------------ 4. Ctrl-C

PARALLEL = {
    "map": "{mode: map, workers: 2, chunksize: 1}",
    "async": "{mode: async, workers: 2}",
    "serial": "{mode: serial}",  # the steps run in flow's own process
}


@pytest.mark.timing
@pytest.mark.parametrize("mode, target", [("map", "flow"), ("map", "group"),
                                          ("async", "group"), ("serial", "group")])
def test_ctrl_c_exits_130_fast_and_leaves_nothing(tmp_path, big_photos, mode, target):
    copy_photos(big_photos, tmp_path / "photos")
    write_wf(tmp_path, SLOW_SAVE_WF.replace(PARALLEL["map"], PARALLEL[mode]))
    out = tmp_path / "out"
    with running_flow(tmp_path, "wf.yaml", "--no-live") as proc:
        wait_mid_save(proc, out)
        in_flight = sorted(p.name for p in out.glob(PART_GLOB))
        sent = time.monotonic()
        if target == "group":
            os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        else:
            os.kill(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=10)
        took = time.monotonic() - sent
        left = wait_session_empty(proc.pid, max(0.1, limit(2.0) - took))
    print(f"\n[timing] Ctrl-C ({mode}, {target}) to exit: {took:.3f} s (a save was in flight: "
          f"{in_flight})")
    assert proc.returncode == 130, stdout + stderr
    assert took < limit(2.0)
    assert left == []
    assert list(out.glob(PART_GLOB)) == []
    made = assert_outputs_whole(out, (1200, 900))
    assert 1 <= len(made) < 6
    assert "interrupted" in stdout + stderr
    assert "Traceback" not in stdout + stderr


# ------------------------------------------------------------------- 5. flow SIGKILLed

@pytest.mark.timing
def test_flow_sigkilled_workers_go_and_no_half_written_output(tmp_path, big_photos):
    copy_photos(big_photos, tmp_path / "photos")
    write_wf(tmp_path, SLOW_SAVE_WF)
    out = tmp_path / "out"
    with running_flow(tmp_path, "wf.yaml", "--no-live") as proc:
        wait_mid_save(proc, out)
        kids = descendants_of(proc.pid)
        kids_seen = describe(kids)
        sent = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)  # not communicate(): orphaned workers may hold its pipes
        left = describe(wait_gone(kids, limit(5.0)))
        gone_after = time.monotonic() - sent
        stragglers = wait_session_empty(proc.pid, limit(0.5))
    assert len(kids) >= 3, kids_seen  # the forkserver and two workers at least
    print(f"\n[timing] flow SIGKILLed: its {len(kids)} processes gone after {gone_after:.2f} s")
    assert left == []
    assert stragglers == []
    # Whatever is under an output name is a whole image.
    made = assert_outputs_whole(out, (1200, 900))
    assert len(made) < 6
    # Run again: it finishes the rest, and the killed writers' temporary files are gone.
    res = run_flow("run", "wf.yaml", "--no-live", cwd=tmp_path, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert len(assert_outputs_whole(out, (1200, 900))) == 6
    assert list(out.glob(PART_GLOB)) == []


@pytest.mark.timing
def test_flow_sigkilled_while_workers_are_busy_they_exit_too(tmp_path):
    mark = tmp_path / "busy.mark"
    write_wf(tmp_path, f"""\
flow: 1
name: busy
inputs:
  xs: {{values: [1, 2]}}
steps:
  - id: nap
    from: xs
    uses: py:tests.faults:sleep_at
    with: {{seconds: 60, mark: "{mark}"}}
    parallel: {{workers: 2, chunksize: 1}}
""")
    with running_flow(tmp_path, "wf.yaml", "--no-live") as proc:
        end = time.monotonic() + limit(8)
        while not mark.exists() and time.monotonic() < end and proc.poll() is None:
            time.sleep(0.01)
        assert mark.exists(), "no worker started its item"
        time.sleep(0.2)  # let the second worker take its item too
        kids = descendants_of(proc.pid)
        kids_seen = describe(kids)
        sent = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)  # not communicate(): orphaned workers may hold its pipes
        left = describe(wait_gone(kids, limit(3.0)))
        gone_after = time.monotonic() - sent
    print(f"\n[timing] flow SIGKILLed with busy workers: gone after {gone_after:.2f} s")
    assert len(kids) >= 3, kids_seen
    assert left == []


# ---------------------------------------------------- 6. a failed save leaves the old output

def old_output(path: Path) -> bytes:
    """A small, valid, older output already in place; its bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (10, 10), "blue").save(path)
    os.utime(path, (946684800, 946684800))  # 2000-01-01: older than any source
    return path.read_bytes()


def test_refused_save_leaves_existing_output_untouched(tmp_path):
    photos = tmp_path / "photos"
    rgba = photo((120, 90), 3).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((120, 90)))  # real transparency
    photos.mkdir()
    rgba.save(photos / "clear.png")
    photo((120, 90), 4).save(photos / "plain.png")
    before = old_output(tmp_path / "out" / "clear.jpg")
    write_wf(tmp_path, """\
flow: 1
name: tojpeg
inputs:
  photos: {glob: "photos/*.png"}
steps:
  - id: save
    from: photos
    uses: image.save
    with: {to: "out/{stem}.jpg"}
""")
    res = run_flow("run", "wf.yaml", "--no-live", cwd=tmp_path, timeout=30)
    assert res.returncode == 1, res.stdout + res.stderr
    lines = failure_lines(res.stdout)
    assert len(lines) == 1 and lines[0].startswith("photos/clear.png at save: "), lines
    old = tmp_path / "out" / "clear.jpg"
    assert old.read_bytes() == before
    assert old.stat().st_mtime == 946684800
    assert load_ok(tmp_path / "out" / "plain.jpg") == (120, 90)
    assert list((tmp_path / "out").glob(PART_GLOB)) == []


def _small_file_limit() -> None:
    # As if the disk filled up: writes past 256 KiB fail (EFBIG; Python ignores SIGXFSZ).
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def test_save_cut_off_mid_write_leaves_existing_output_untouched(tmp_path):
    save_photo(tmp_path / "photos" / "big.jpg", (1200, 900), 1)  # ~2 MB as PNG: cut off
    save_photo(tmp_path / "photos" / "small.jpg", (60, 45), 2)   # a few KB: fits
    before = old_output(tmp_path / "out" / "big.png")
    write_wf(tmp_path, """\
flow: 1
name: diskfull
inputs:
  photos: {glob: "photos/*.jpg"}
steps:
  - id: save
    from: photos
    uses: image.save
    with: {to: "out/{stem}.png"}
""")
    res = subprocess.run([sys.executable, "-m", "runner", "run", "wf.yaml", "--no-live"],
                         cwd=tmp_path, env=flow_env(), capture_output=True, text=True,
                         timeout=30, preexec_fn=_small_file_limit)
    assert res.returncode == 1, res.stdout + res.stderr
    lines = failure_lines(res.stdout)
    assert len(lines) == 1 and lines[0].startswith("photos/big.jpg at save: "), lines
    old = tmp_path / "out" / "big.png"
    assert old.read_bytes() == before
    assert old.stat().st_mtime == 946684800
    assert load_ok(tmp_path / "out" / "small.png") == (60, 45)
    assert list((tmp_path / "out").glob(PART_GLOB)) == []
    assert "Traceback" not in res.stdout + res.stderr


# ---------------------------------------------------------------------- 7. bad input files

BAD_INPUTS = ("bomb", "bomb_warn", "broken_header", "empty", "text", "truncated")


@pytest.mark.timing
def test_bad_inputs_fail_alone_and_good_ones_are_done(tmp_path):
    corpus = make_corpus(tmp_path / "corpus")
    write_wf(tmp_path, """\
flow: 1
name: corpus
inputs:
  files: {glob: "corpus/*"}
steps:
  - id: orient
    from: files
    uses: image.auto_orient
  - id: save
    uses: image.save
    with: {to: "out/{stem}.png"}
""")
    t0 = time.monotonic()
    res = run_flow("run", "wf.yaml", "--no-live", cwd=tmp_path, timeout=60)
    took = time.monotonic() - t0
    assert res.returncode == 1, res.stdout + res.stderr
    assert took < limit(8), f"bad files took {took:.1f} s (bombs must be refused fast)"
    assert "Traceback" not in res.stdout + res.stderr
    lines = failure_lines(res.stdout)
    bad = {corpus[k].relative_to(tmp_path).as_posix() for k in BAD_INPUTS}
    assert len(lines) == len(bad), lines
    for name in bad:
        mine = [ln for ln in lines if ln.startswith(name + " at ")]
        assert len(mine) == 1, (name, lines)
        reason = mine[0].split(": ", 1)[1]
        assert reason.strip() and len(mine[0]) < 250, mine
    good = [k for k in corpus if k not in BAD_INPUTS]
    for key in good:
        load_ok(tmp_path / "out" / f"{corpus[key].stem}.png")
    assert sorted(p.stem for p in (tmp_path / "out").glob("*.png")) == \
        sorted(corpus[k].stem for k in good)
    # Multi-frame: said once, in the summary's notices.
    notices = res.stdout.split("\nnotices:", 1)
    assert len(notices) == 2, res.stdout
    assert notices[1].count("first frame") == 1, notices[1]
    # EXIF orientation 6: stored 80x40 with red top-left; shown 40x80 with red top-right.
    with Image.open(tmp_path / "out" / "exif_rotated.png") as im:
        im = im.convert("RGB")
        assert im.size == (40, 80)
        r, g, b = im.getpixel((35, 5))
        assert r > 200 and g < 60 and b < 60
        assert im.getpixel((5, 5)) > (200, 200, 200)
    # Modes PNG cannot store are converted, 16-bit kept.
    with Image.open(tmp_path / "out" / "cmyk.png") as im:
        assert im.mode in ("RGB", "RGBA")
    with Image.open(tmp_path / "out" / "gray16.png") as im:
        assert im.mode.startswith("I") and max(im.getextrema()) > 255


# ------------------------------------------------------------------- 8. memory and recycling

def test_worker_memory_cap_fails_the_hog_only(tmp_path):
    write_wf(tmp_path, """\
flow: 1
name: hog
inputs:
  xs: {range: {start: 0, stop: 10}}
steps:
  - id: hog
    from: xs
    uses: py:tests.faults:allocate
    with: {mb: 600, at: 3}
  - id: sq
    uses: numeric.square
  - id: out
    uses: io.write
    with: {to: squares.json, as_list: true}
""")
    res = run_flow("run", "wf.yaml", "--no-live", "--worker-memory", "300",
                   cwd=tmp_path, timeout=30)
    assert res.returncode == 1, res.stdout + res.stderr
    lines = failure_lines(res.stdout)
    assert len(lines) == 1 and lines[0].startswith("item 3 (3) ") and \
        "out of memory" in lines[0], lines
    assert json.loads((tmp_path / "squares.json").read_text()) == \
        [i * i for i in range(10) if i != 3]
    # Without the cap the same step is fine: the cap, not the step, failed it.
    res = run_flow("run", "wf.yaml", "--no-live", "--force", cwd=tmp_path, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr


def test_recycled_workers_complete_a_run_correctly(tmp_path):
    write_wf(tmp_path, """\
flow: 1
name: recycle
inputs:
  xs: {range: {start: 0, stop: 20}}
steps:
  - id: who
    from: xs
    uses: py:tests.faults:pid
    parallel: {workers: 2, chunksize: 1}
  - id: pids
    uses: io.write
    with: {to: pids.json, as_list: true}
  - id: sq
    from: xs
    uses: numeric.square
    parallel: {workers: 2, chunksize: 1}
  - id: total
    uses: numeric.sum
  - id: out
    uses: io.write
    with: {to: sum.json}
""")
    res = run_flow("run", "wf.yaml", "--no-live", "--recycle", "2", cwd=tmp_path, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads((tmp_path / "sum.json").read_text()) == sum(i * i for i in range(20))
    pids = json.loads((tmp_path / "pids.json").read_text())
    assert len(pids) == 20
    # Two tasks per worker: 20 one-item tasks need at least 10 workers.
    assert len(set(pids)) >= 10, pids
    assert max(pids.count(p) for p in set(pids)) <= 2, pids


# ------------------------------------------------------------ 9. --report and on_error: stop

def test_report_has_stage_counts_timings_and_every_failure(tmp_path):
    photos = tmp_path / "photos"
    for i in range(4):
        save_photo(photos / f"p{i}.jpg", (160, 120), i)
    (photos / "empty.jpg").write_bytes(b"")
    (photos / "notes.jpg").write_text("not a picture\n")
    write_wf(tmp_path, """\
flow: 1
name: reported
inputs:
  photos: {glob: "photos/*.jpg"}
  xs: {range: {start: 0, stop: 6}}
steps:
  - id: shrink
    from: photos
    uses: image.thumbnail
    with: {size: 64}
  - id: save
    uses: image.save
    with: {to: "out/{stem}.png"}
  - id: nap
    from: xs
    uses: util.sleep
    with: {seconds: 0.2}
    retries: 2  # as boom's: steps with the same settings fuse into one stage
  - id: boom
    uses: py:tests.faults:fail_at
    with: {at: 4}
    retries: 2
  - id: total
    uses: numeric.sum
""")
    res = run_flow("run", "wf.yaml", "--no-live", "--report", "build/report.json",
                   cwd=tmp_path, timeout=30)
    assert res.returncode == 1, res.stdout + res.stderr
    report = json.loads((tmp_path / "build" / "report.json").read_text())
    assert report["exit_code"] == 1
    stages = {s["label"]: s for s in report["stages"]}
    assert set(stages) == {"shrink→save", "nap→boom", "total"}, stages
    counts = {k: (s["done"], s["failed"], s["skipped"]) for k, s in stages.items()}
    assert counts == {"shrink→save": (4, 2, 0), "nap→boom": (5, 1, 0), "total": (1, 0, 0)}
    for s in stages.values():  # a stage's time lies within the run's
        assert isinstance(s["seconds"], (int, float)) and 0 <= s["seconds"] <= report["seconds"]
    # six 0.2 s sleeps on at most two workers: at least 0.6 s
    assert stages["nap→boom"]["seconds"] >= 0.55
    by_item = {f["item"]: f for f in report["failures"]}
    assert set(by_item) == {"photos/empty.jpg", "photos/notes.jpg", "item 4 (4)"}, by_item
    f = by_item["item 4 (4)"]
    assert (f["stage"], f["step"], f["attempts"]) == (stages["nap→boom"]["id"], "boom", 3), f
    assert f["reason"] == "ValueError: planned failure at 4"
    for name, reason in (("photos/empty.jpg", "empty file"),
                         ("photos/notes.jpg", "not an image")):
        f = by_item[name]
        assert f["stage"] == stages["shrink→save"]["id"] and f["step"] == "shrink", f
        assert reason in f["reason"] and f["attempts"] == 1, f
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == \
        [f"p{i}.png" for i in range(4)]


def test_retried_bad_inputs_keep_their_reason_and_count_attempts(tmp_path):
    corpus = make_corpus(tmp_path / "corpus")
    photos = tmp_path / "photos"
    photos.mkdir()
    for key in ("good_landscape", "truncated", "empty"):
        shutil.copy(corpus[key], photos)
    write_wf(tmp_path, """\
flow: 1
name: retried
inputs:
  photos: {glob: "photos/*.jpg"}
steps:
  - id: shrink
    from: photos
    uses: image.thumbnail
    with: {size: 64}
    retries: 1
  - id: save
    uses: image.save
    with: {to: "out/{stem}.png"}
""")
    res = run_flow("run", "wf.yaml", "--no-live", "--report", "report.json",
                   cwd=tmp_path, timeout=30)
    assert res.returncode == 1, res.stdout + res.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    got = {f["item"]: (f["step"], f["attempts"], f["reason"]) for f in report["failures"]}
    assert set(got) == {"photos/truncated.jpg", "photos/empty.jpg"}, got
    # The second attempt must not hide the real reason behind a follow-on error.
    assert got["photos/truncated.jpg"][2].startswith("ImageError: truncated image data"), got
    assert got["photos/empty.jpg"][2] == "ImageError: empty file", got
    # `retries: 1` on shrink: every item failing there had two attempts (opening is part of it).
    assert [got[n][:2] for n in ("photos/truncated.jpg", "photos/empty.jpg")] == \
        [("shrink", 2), ("shrink", 2)], got
    assert load_ok(tmp_path / "out" / "good_landscape.png") == (64, 48)


@pytest.mark.timing
def test_on_error_stop_stops_promptly_and_names_the_item(tmp_path):
    stamp = tmp_path / "failed.stamp"
    write_wf(tmp_path, f"""\
flow: 1
name: stopper
inputs:
  xs: {{range: {{start: 0, stop: 50}}}}
defaults:
  on_error: stop
steps:
  - id: nap
    from: xs
    uses: util.sleep
    with: {{seconds: 0.3}}
  - id: boom
    uses: py:tests.faults:fail_at
    with: {{at: 5, stamp: "{stamp}"}}
  - id: out
    uses: io.write
    with: {{to: done.json, as_list: true}}
""")
    with running_flow(tmp_path, "wf.yaml", "--no-live", "--report", "report.json") as proc:
        stdout, stderr = proc.communicate(timeout=30)
        ended = time.time()
        left = wait_session_empty(proc.pid, limit(1.0))
    assert proc.returncode == 1, stdout + stderr
    assert stamp.exists()
    after = ended - read_stamp(stamp)
    print(f"\n[timing] on_error: stop: flow exited {after:.2f} s after the failing item")
    assert after < limit(2.0)
    assert "stopped by: item 5 (5)" in stdout, stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["state"] == "stopped"
    assert report["stopped_by"]["item"] == "item 5 (5)"
    assert sum(s["done"] for s in report["stages"] if s["label"] == "nap→boom") < 20
    assert left == []


# ------------------------------------------------------------------------- 10. output paths

def small_photos(folder: Path, n: int = 2) -> None:
    for i in range(n):
        save_photo(folder / f"photo_{i:02d}.jpg", (80, 60), i)


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink_inside", "symlinked_folder",
                                 "per_item_symlink"])
def test_outputs_outside_the_workdir_are_refused(tmp_path, how):
    work, outside = tmp_path / "work", tmp_path / "outside"
    outside.mkdir()
    small_photos(work / "photos")
    template = {
        "dotdot": "out/../../outside/{stem}.png",
        "absolute": f"{outside}/{{stem}}.png",
        "symlink_inside": "out/link/{stem}.png",
        "symlinked_folder": "linked/{stem}.png",
        "per_item_symlink": "out/{parent}/{stem}.png",  # only the item's path meets the link
    }[how]
    (work / "out").mkdir()
    (work / "out" / "link").symlink_to(outside)
    (work / "out" / "photos").symlink_to(outside)
    (work / "linked").symlink_to(outside)
    write_wf(work, f"""\
flow: 1
name: escape
inputs:
  photos: {{glob: "photos/*.jpg"}}
steps:
  - id: save
    from: photos
    uses: image.save
    with: {{to: "{template}"}}
""")
    before = tree(tmp_path)
    res = run_flow("run", "wf.yaml", "--no-live", cwd=work, timeout=30)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "--allow-outside" in res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    after = tree(tmp_path)
    assert after == before, set(after) ^ set(before)
    res = run_flow("run", "wf.yaml", "--no-live", "--allow-outside", cwd=work, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert sorted(p.name for p in outside.iterdir()) == ["photo_00.png", "photo_01.png"]
    for p in outside.iterdir():
        assert load_ok(p) == (80, 60)


def test_glob_survives_symlink_loops_and_visits_each_file_once(tmp_path):
    small_photos(tmp_path / "photos" / "a")
    save_photo(tmp_path / "photos" / "b" / "c" / "photo_10.jpg", (80, 60), 5)
    (tmp_path / "photos" / "a" / "up").symlink_to("..")             # a loop
    (tmp_path / "photos" / "b" / "c" / "top").symlink_to("../../..")  # a loop to the top
    (tmp_path / "photos" / "a" / "alias").symlink_to("../b")        # the same files again
    write_wf(tmp_path, """\
flow: 1
name: loops
inputs:
  photos: {glob: "photos/**/*.jpg"}
steps:
  - id: save
    from: photos
    uses: image.save
    with: {to: "out/{stem}.png"}
""")
    res = run_flow("run", "wf.yaml", "--no-live", "--report", "report.json",
                   cwd=tmp_path, timeout=20)
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert [(s["done"], s["failed"]) for s in report["stages"]] == [(3, 0)]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == \
        ["photo_00.png", "photo_01.png", "photo_10.png"]
