"""Shared fixtures: run the real `flow` command, make real photos."""

from __future__ import annotations

import compileall
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from pathlib import Path

import pytest

from tests.timing import ENV, SCALE

REPO = Path(__file__).resolve().parent.parent


def pytest_report_header() -> str:
    return f"wall-clock limits of timing tests x{SCALE:g} ({ENV})"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile flow's own modules once, as a user's Python caches them on the first start.

    Every test starts ``flow`` (and its fork server) anew; where the environment sets
    PYTHONDONTWRITEBYTECODE, each of those starts would compile all of runner/ and steps/
    from source again. Only the repository's modules are compiled here: a test's own
    ``.py`` steps are still compiled fresh by the flow it runs, so a step a test edits
    within one second is never read from a stale cache.
    """
    for package in ("runner", "steps", "workflows", "tests"):
        compileall.compile_dir(REPO / package, quiet=2)


def flow_env() -> dict[str, str]:
    """The environment a test's `flow` runs in: this checkout's code, 120 columns."""
    return {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "120"}


def run_flow(*args: str, cwd: Path, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """Run ``flow ARGS`` as a user would, in ``cwd``; returns the finished process."""
    return subprocess.run([sys.executable, "-m", "runner", *args], cwd=cwd, env=flow_env(),
                          capture_output=True, text=True, timeout=timeout, **kw)


def side_by_side(**calls: Callable[[], object]) -> dict[str, Future]:
    """Run each call in its own thread, all at once; their futures, every one finished.

    For real runs that are mostly seconds of waiting (sleeping items, a stall) in their
    own folders and processes: they go together instead of one after the other. A test
    reads its own future's ``result()``, so a run that failed fails only its tests.
    """
    with ThreadPoolExecutor(len(calls)) as pool:
        futures = {name: pool.submit(call) for name, call in calls.items()}
        wait_futures(list(futures.values()))
    return futures


# The bytes of each photo drawn in this session, by (size, seed, suffix): drawing one
# costs up to 0.35 s, and the same arguments draw the same picture (only the grain,
# Pillow's unseeded noise, differs), so a test that asks for one already drawn gets a
# copy of those bytes: one corpus per session.
_DRAWN: dict[tuple[tuple[int, int], int, str], bytes] = {}


def draw_photo(path: Path, size: tuple[int, int], seed: int = 0) -> Path:
    """The sample photo of ``size`` and ``seed`` (``workflows/make_photos.py``) at ``path``."""
    from workflows.make_photos import make_photo

    key = (tuple(size), seed, path.suffix)
    if key in _DRAWN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_DRAWN[key])
    else:
        make_photo(path, size, seed)
        _DRAWN[key] = path.read_bytes()
    return path


def make_photos(folder: Path, count: int = 6, size: tuple[int, int] = (640, 480)) -> list[Path]:
    """Small photo-like JPEGs directly in ``folder``, deterministic (as
    ``workflows/make_photos.py`` makes them with ``subfolders=False``)."""
    return [draw_photo(folder / f"photo_{i:02d}.jpg", size, seed=i) for i in range(count)]


@pytest.fixture
def photos(tmp_path: Path) -> list[Path]:
    return make_photos(tmp_path / "photos")


@pytest.fixture
def flow(tmp_path: Path):
    """``flow(*args)`` run in tmp_path."""
    def _run(*args: str, **kw):
        return run_flow(*args, cwd=tmp_path, **kw)
    return _run
