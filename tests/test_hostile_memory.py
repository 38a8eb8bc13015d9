"""Big values under load: the parent keeps only what some later stage needs, and
big values it needs are kept on disk, not in its memory.

Each run is the real ``flow`` command; the test reads the peak resident memory of
flow's own process (``VmHWM``) until it exits.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.hostile_kit import (
    marker_fixture,  # noqa: F401 - the fixture 'marker'
    start,
    write,
)

MB = 1024 * 1024
BLOB = 150  # MB per value: four of them are 600 MB

STEPS = f'''\
from steps import step


def blob(value, mb={BLOB}):
    """A value of ``mb`` MiB (think: a big array a step computed)."""
    return bytes([value]) * ({MB} * mb)


@step("big.total_size", kind="reduce")
def total_size(values):
    """How many bytes the values hold, in all, and which first bytes they had."""
    return [sum(len(v) for v in values), sorted(v[0] for v in values)]
'''


def peak_of(proc, timeout: float = 120) -> float:
    """flow's peak resident memory in MiB, read until it exits (ended after ``timeout``)."""
    peak, end = 0, time.monotonic() + timeout
    while proc.poll() is None:
        if time.monotonic() > end:
            proc.kill()
            break
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            break
        time.sleep(0.01)
    return peak / 1024


def run_measured(tmp_path: Path, marker: str, steps: str,
                 parallel: str = "{mode: async, workers: 2}") -> tuple[int, str, float]:
    write(tmp_path, "big.py", STEPS)
    write(tmp_path, "wf.yaml", f"""\
flow: 1
name: big
inputs:
  xs: {{range: {{start: 0, stop: 4, step: 1}}}}
steps:
  - id: blob
    from: xs
    uses: py:big:blob
    parallel: {parallel}
{steps}""")
    proc = start(tmp_path, "run", "wf.yaml", "--no-live", marker=marker)
    peak = peak_of(proc)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out + err, peak


@pytest.mark.parametrize("parallel", ["{mode: async, workers: 2}",
                                      "{mode: map, workers: 2, chunksize: 2}"])
def test_values_nobody_needs_are_not_kept(tmp_path, marker, parallel):
    code, text, peak = run_measured(tmp_path, marker, "", parallel)
    print(f"\n[memory] flow's peak with 4 x {BLOB} MB values nobody needs ({parallel}): "
          f"{peak:.0f} MB")
    assert code == 0, text
    assert peak < BLOB, f"{peak:.0f} MB"  # not even one of them passed through flow


def test_big_values_a_later_stage_needs_wait_on_disk(tmp_path, marker):
    code, text, peak = run_measured(tmp_path, marker, """\
  - id: sizes
    uses: py:big:total_size
""")
    print(f"\n[memory] flow's peak with 4 x {BLOB} MB values for a reduce: {peak:.0f} MB")
    assert code == 0, text
    assert f"sizes: [{4 * BLOB * MB}, [0, 1, 2, 3]]" in text, text
    assert peak < BLOB, f"{peak:.0f} MB"
    assert not (tmp_path / ".flow" / "tmp").exists() or \
        list((tmp_path / ".flow" / "tmp").iterdir()) == []  # the spilled values are gone
