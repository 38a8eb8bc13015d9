"""Shared helpers of the benchmark scripts: paths, timing, subprocesses, tables, results.

Every benchmark times whole processes by wall clock (``time.perf_counter`` around
``subprocess.run``), so interpreter start-up and imports count for flow and for
the scripts it is compared with alike.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent  # the repository: flow's working directory
BENCH = ROOT / "bench"
WORKFLOWS = BENCH / "workflows"
RESULTS = BENCH / "results"
OUT = BENCH / "out"  # git-ignored: every output a benchmark writes
CORPUS = BENCH / "corpus"  # git-ignored: the generated photos

BUSY_LIMIT = 0.10  # others' share of the CPUs above which a timing is suspect
BUSY_SEEN: list[float] = []  # how busy the CPUs were before each quiet run of this process
CORES_NOTE = ("This machine has {cores} cores: a parallel speed-up is capped at {cores}x, "
              "and every tool below shares the same {cores} cores.")


@dataclass(frozen=True)
class Timed:
    """One finished process: its wall time and what it said."""

    seconds: float
    returncode: int
    stdout: str
    stderr: str
    busy: float | None = None  # share of the CPUs others used just before (see settle)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def reason(self) -> str:
        """A one-line reason for a failure: the last non-empty line of stderr (or stdout)."""
        for text in (self.stderr, self.stdout):
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            if lines:
                return f"exit {self.returncode}: {lines[-1][:160]}"
        return f"exit {self.returncode}"


# Measure what a user sees: their Python caches compiled modules (.pyc). This sandbox
# sets PYTHONDONTWRITEBYTECODE, which would make every start of flow compile it anew.
USER_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def cpu_busy(interval: float = 0.5) -> float:
    """The share of all CPUs that was busy over the next ``interval`` seconds (/proc/stat)."""
    def snap() -> tuple[int, int]:
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
        return values[3] + values[4], sum(values)  # idle + iowait, total

    try:
        idle0, total0 = snap()
        time.sleep(interval)
        idle1, total1 = snap()
    except (OSError, ValueError, IndexError):
        return 0.0  # not Linux: cannot tell, assume quiet
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def settle(limit: float = BUSY_LIMIT, timeout: float = 60.0) -> float:
    """Wait until other processes leave the CPUs idle (busy <= ``limit``), at most
    ``timeout`` seconds; returns the last busy share. A shared machine's noise then
    shows in the results instead of silently lowering a figure."""
    deadline = time.monotonic() + timeout
    while True:
        busy = cpu_busy()
        if busy <= limit or time.monotonic() >= deadline:
            return busy


def settled(limit: float = BUSY_LIMIT, timeout: float = 60.0) -> float:
    """:func:`settle`, and remember the figure for :func:`busy_note` and the results."""
    busy = settle(limit, timeout)
    BUSY_SEEN.append(busy)
    return busy


def busy_note() -> str | None:
    """A warning when some timed run started while other processes kept the CPUs busy."""
    worst = max(BUSY_SEEN, default=0.0)
    if worst <= BUSY_LIMIT:
        return None
    return (f"note: other processes used up to {worst:.0%} of the CPUs just before some runs; "
            "those figures may be low (rerun on an idle machine)")


def run_timed(cmd: Sequence[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None,
              timeout: float | None = 3600, quiet: bool = False) -> Timed:
    """Run ``cmd``, capture its output, and time it by wall clock. Never raises on failure.

    ``quiet``: first wait (a little) for the machine to be idle, see :func:`settle`."""
    full_env = dict(USER_ENV, **(env or {}))
    busy = settled() if quiet else None
    t0 = time.perf_counter()
    try:
        cp = subprocess.run(list(cmd), cwd=cwd, env=full_env, capture_output=True, text=True,
                            timeout=timeout, check=False)
    except FileNotFoundError as exc:
        return Timed(time.perf_counter() - t0, 127, "", f"not installed: {exc.filename}", busy)
    except subprocess.TimeoutExpired:
        return Timed(time.perf_counter() - t0, 124, "", f"timed out after {timeout} s", busy)
    return Timed(time.perf_counter() - t0, cp.returncode, cp.stdout, cp.stderr, busy)


def flow_cmd(*args: str) -> list[str]:
    """The command line of ``flow`` run as a user would, in this interpreter."""
    return [sys.executable, "-m", "runner", *args]


def flow_run(workflow: Path, params: dict[str, Any], *, jobs: int | None = None,
             extra: Sequence[str] = (), env: dict[str, str] | None = None,
             timeout: float | None = 3600, quiet: bool = True) -> Timed:
    """``flow run WF -p k=v ... [-j N] --no-live`` from the repository root, timed."""
    args = ["run", rel(workflow)]
    for key, value in params.items():
        args += ["-p", f"{key}={value}"]
    if jobs is not None:
        args += ["-j", str(jobs)]
    args += ["--no-live", *extra]
    return run_timed(flow_cmd(*args), env=env, timeout=timeout, quiet=quiet)


def unavailable(what: str, timed: Timed) -> str:
    """The table cell for a tool that could not run: never a crash, always a reason."""
    return f"{what}: not available (error {timed.reason()})"


def rel(path: Path) -> str:
    """``path`` relative to the repository root when it is inside it (flow's workdir)."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def fresh_dir(path: Path) -> Path:
    """Delete ``path`` and make it again, empty: no run is helped by an earlier one's outputs."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float]) -> str:
    """How far the slowest run is from the fastest: a noise gauge for the table."""
    if len(values) < 2 or min(values) <= 0:
        return "-"
    return f"{max(values) / min(values) - 1:.0%}"


def fmt_s(seconds: float | None) -> str:
    """Seconds for a table: ms under a second, else seconds with 2 decimals."""
    if seconds is None or seconds != seconds:
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def fmt_rate(rate: float | None, unit: str = "/s") -> str:
    if rate is None or rate != rate:
        return "-"
    return f"{rate:,.0f}{unit}" if rate >= 100 else f"{rate:.1f}{unit}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table, columns padded so it also reads well in a terminal."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
             for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    try:
        import PIL

        pillow = PIL.__version__
    except ImportError:
        pillow = None
    return {"cores": os.cpu_count(), "cpu": _cpu_model(), "ram_gib": _ram_gib(),
            "python": platform.python_version(), "pillow": pillow,
            "system": f"{platform.system()} {platform.release()}"}


def machine_line() -> str:
    m = machine()
    return (f"Machine: {m['cores']} cores, {m['cpu']}, {m['ram_gib']} GiB RAM, "
            f"Python {m['python']}, Pillow {m['pillow']}.")


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` with the machine and the command that made it."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": name, "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "command": " ".join(["python", rel(Path(sys.argv[0])), *sys.argv[1:]]),
           "machine": machine(),
           "busy_before_runs_max": round(max(BUSY_SEEN), 3) if BUSY_SEEN else None, **payload}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def publish(name: str, payload: dict[str, Any]) -> int:
    """Write the results file, say whether the machine was busy, and where the file is."""
    path = write_results(name, payload)
    if note := busy_note():
        print(note)
    print(f"results: {rel(path)}")
    return 0


def read_total(path: Path) -> Any:
    """The number io.write wrote: a bare number, or the one number in a mapping or list."""
    doc = json.loads(path.read_text())
    while isinstance(doc, (dict, list)) and len(doc) == 1:
        doc = next(iter(doc.values())) if isinstance(doc, dict) else doc[0]
    if isinstance(doc, dict):
        for key in ("value", "sum", "total", "result"):
            if key in doc:
                return doc[key]
    return doc


def read_results(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
