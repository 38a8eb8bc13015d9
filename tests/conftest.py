"""Shared fixtures: run the real `flow` command, make real photos."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.timing import ENV, SCALE

REPO = Path(__file__).resolve().parent.parent


def pytest_report_header() -> str:
    return f"wall-clock limits of timing tests x{SCALE:g} ({ENV})"


def run_flow(*args: str, cwd: Path, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """Run ``flow ARGS`` as a user would, in ``cwd``; returns the finished process."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "runner", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, **kw)


def make_photos(folder: Path, count: int = 6, size: tuple[int, int] = (640, 480)) -> list[Path]:
    """Small photo-like JPEGs directly in ``folder``, deterministic."""
    from workflows.make_photos import make_photos as make

    return make(folder, count, size, subfolders=False)


@pytest.fixture
def photos(tmp_path: Path) -> list[Path]:
    return make_photos(tmp_path / "photos")


@pytest.fixture
def flow(tmp_path: Path):
    """``flow(*args)`` run in tmp_path."""
    def _run(*args: str, **kw):
        return run_flow(*args, cwd=tmp_path, **kw)
    return _run
