"""What the hostile-condition tests share: a small tmpfs, deterministic photos, flow
started as a terminal would start it, and a look at the processes a run left.

Everything is real: ``mount -t tmpfs`` (the tests that need it skip, saying why,
where mounting is not permitted), real JPEGs, the real ``flow`` command.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_e2e_faults import flow_env, write_wf

PAGE = os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------------------------- tmpfs

@contextlib.contextmanager
def tmpfs(folder: Path, size: str = "5m") -> Iterator[Path]:
    """``folder`` as a fresh tmpfs of ``size``; unmounted afterwards. Skips the test,
    with the reason, where mounting is not permitted (not root, no mount command)."""
    folder.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        pytest.skip("no mount command: cannot make a small file system to fill")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({res.stderr.strip() or res.returncode}): "
                    "a full disk needs a small file system of its own")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def remount(folder: Path, size: str) -> None:
    """Give the tmpfs at ``folder`` a new size (room made after a full disk)."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(folder)], check=True)


def free_bytes(folder: Path) -> int:
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


def leave_free(folder: Path, free: int) -> None:
    """Fill the file system of ``folder`` with a filler file until ``free`` bytes are left."""
    need = free_bytes(folder) - free
    assert need >= 0, f"only {free_bytes(folder)} bytes free, wanted {free}"
    with open(folder / "filler", "ab") as fh:
        fh.write(b"\0" * need)
    assert free_bytes(folder) == free, (free_bytes(folder), free)


# --------------------------------------------------------------------------------- photos

def make_photo(path: Path, size: tuple[int, int], seed: int = 0) -> Path:
    """A deterministic photo-like JPEG (the sample photos' drawing)."""
    from tests.conftest import draw_photo

    return draw_photo(path, size, seed)


def decodes(path: Path) -> bool:
    """True when ``path`` is a whole image (every pixel decodes)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
        return True
    except Exception:  # noqa: BLE001 - Pillow raises many kinds on a partial file
        return False


# ------------------------------------------------------------------------------- the run

def write(folder: Path, name: str, text: str) -> Path:
    return write_wf(folder, text, name)


# Starts flow with SIGINT at its default action, in a session of its own, as a shell
# does for a foreground job (a plain Popen from pytest would inherit what pytest set).
# ``python -c LAUNCHER PROGRAM ARGS...`` runs PROGRAM so.
LAUNCHER = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
            "os.execv(sys.argv[1], sys.argv[1:])")


def start(cwd: Path, *args: str, marker: str = "") -> subprocess.Popen:
    """``flow ARGS`` in its own session (its pid is the session and group id).

    ``marker``: a ``NAME=VALUE`` put in flow's environment, which every process the
    run starts inherits (see :func:`live_with_marker`).
    """
    env = flow_env()
    if marker:
        name, _, value = marker.partition("=")
        env[name] = value
    return subprocess.Popen([sys.executable, "-c", LAUNCHER, sys.executable, "-m", "runner",
                             *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float, marker: str) -> tuple[str, str]:
    """``proc.communicate()``; after ``timeout`` s every process of the run (``marker``)
    is SIGKILLed first: one left alive would hold flow's output pipes open."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_marked(marker)
        return proc.communicate()


def new_marker() -> str:
    """A fresh ``NAME=VALUE`` for :func:`start` and :func:`live_with_marker`."""
    return f"FLOW_TEST_RUN={os.urandom(8).hex()}"


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def wait_for(cond, timeout: float, proc: subprocess.Popen | None = None,
             step: float = 0.01) -> bool:
    """Poll ``cond()`` until it is true (True) or ``timeout`` s pass (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        if proc is not None and proc.poll() is not None:
            return bool(cond())
        time.sleep(step)
    return bool(cond())


# --------------------------------------------------------------------------- processes

def stat_fields(pid: int) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2:].split()


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return "?"


def environ_has(pid: int, marker: str) -> bool:
    try:
        return marker.encode() in Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False


def live_with_marker(marker: str) -> list[str]:
    """Live (not zombie) processes whose environment holds ``marker``: every process a
    test's flow run started inherits it, wherever it was reparented to (a process
    that changed its environment after it started still shows the one it began with)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        f = stat_fields(int(entry))
        if f is None or f[0] in (b"Z", b"X"):
            continue
        if environ_has(int(entry), marker):
            found.append(f"{entry} [{f[0].decode()}]: {cmdline(int(entry))[:100]}")
    return sorted(found)


def zombies_of(pid: int) -> list[str]:
    """Zombie children of ``pid``: processes it started and did not reap."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        f = stat_fields(int(entry))
        if f is not None and f[0] == b"Z" and int(f[1]) == pid:
            found.append(f"{entry}: {cmdline(int(entry)) or '(zombie)'}")
    return found


@pytest.fixture(name="marker")
def marker_fixture():
    """A fresh marker for one test's run (see :func:`start`); whatever the run left is
    SIGKILLed afterwards, so one failing test does not litter the next."""
    mark = new_marker()
    yield mark
    kill_marked(mark)


def kill_marked(marker: str) -> None:
    """SIGKILL what a test's run left (so one failing test does not litter the next)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid() and environ_has(int(entry), marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry), signal.SIGKILL)
