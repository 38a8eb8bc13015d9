"""A CPU-bound step for the scaling benchmark: pure-Python arithmetic, no I/O.

``uses: py:steps_cpu:burn`` (bench/ on PYTHONPATH). The work is a fixed number of
loop turns, not a fixed time, so two workers really do twice the work per second
only if the runner keeps both cores busy. About 5 ms an item with the default
``loops`` on a 2020s x86 core.
"""

from __future__ import annotations


def burn(value: int, loops: int = 70_000) -> int:
    """A linear congruential generator stepped ``loops`` times from ``value``: an int."""
    acc = int(value)
    for _ in range(loops):
        acc = (acc * 1_103_515_245 + 12_345) & 0x7FFF_FFFF
    return acc
