"""The numeric scripts flow is compared with, each a whole program:

    python bench/numeric_scripts.py naive|chunk1|subrange N [WORKERS]

prints the sum of the squares of range(N). Only the standard library is
imported, so the timing is the script's and not the benchmark's.
"""

from __future__ import annotations

import os
import sys
from multiprocessing import Pool


def square(x: int) -> int:
    return x * x


def sum_squares(bounds: tuple[int, int]) -> int:
    """One worker's share: a plain loop over its own sub-range, nothing pickled per item."""
    total = 0
    for i in range(*bounds):
        total += i * i
    return total


def script(name: str, n: int, workers: int) -> int:
    """Run one of the compared scripts in this process; returns the total."""
    with Pool(workers) as pool:
        if name == "naive":  # what the multiprocessing docs show
            return sum(pool.map(square, range(n)))
        if name == "chunk1":  # the same, one item per task
            return sum(pool.map(square, range(n), chunksize=1))
        if name == "subrange":  # hand-written: each worker loops over its own sub-range
            step = -(-n // workers)
            return sum(pool.map(sum_squares, [(a, min(a + step, n)) for a in range(0, n, step)]))
    raise ValueError(f"unknown script {name!r}")


def expected(n: int) -> int:
    """The sum of i*i for i in range(n), in closed form."""
    return (n - 1) * n * (2 * n - 1) // 6


if __name__ == "__main__":
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else os.cpu_count() or 1
    print(script(sys.argv[1], int(sys.argv[2]), workers))
