"""The pieces of ``numeric.stats``: a per-chunk fold and a median without a full sort.

The spread is kept two ways. Blocks of ints keep their exact sum of squares, so
for int data the standard deviation is exact and does not depend on how the
items were chunked (or on how many workers there were). Blocks with floats keep
(count, mean, M2), M2 being the sum of squared deviations from the mean,
computed two-pass within a block and merged with Chan et al.'s parallel formula,
so the spread never needs a second pass over all the data. The median needs
every value: kept as ``array('d')``, 8 bytes a value.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from functools import partial
from itertools import islice, repeat
from operator import ge, gt, le, mul, sub
from typing import Any

Number = int | float

_BLOCK = 65536  # values per block: C-speed passes over a list, memory bounded per chunk
_EMPTY_STATS = {"count": 0, "min": None, "max": None, "mean": None, "stdev": None,
                "median": None}

# A partial: (exact sum, min, max, int count, int sum, int sum of squares,
#             float count, float mean, float M2, kept values or None).
StatsPartial = tuple[Number, Any, Any, int, int, int, int, float, float, "array[float] | None"]
_EMPTY: StatsPartial = (0, None, None, 0, 0, 0, 0, 0.0, 0.0, None)


def chan(na: int, ma: float, m2a: float, nb: int, mb: float, m2b: float
         ) -> tuple[int, float, float]:
    """Merge two (count, mean, M2) summaries (Chan, Golub & LeVeque, 1979)."""
    if na == 0:
        return nb, mb, m2b
    if nb == 0:
        return na, ma, m2a
    n = na + nb
    delta = mb - ma
    return n, ma + delta * nb / n, m2a + m2b + delta * delta * na * nb / n


def stats_partial(values: Iterable[Any], median: bool = True) -> StatsPartial:
    """One chunk's partial; reads ``values`` once, a block of 65536 at a time."""
    it = iter(values)
    parts = []
    kept = array("d") if median else None
    while block := list(islice(it, _BLOCK)):
        bn, bsum = len(block), sum(block)
        extremes = min(block), max(block)
        if type(bsum) is int:  # ints (or bools) only: exact sums of squares
            parts.append((bsum, *extremes, bn, bsum, sum(map(mul, block, block)),
                          0, 0.0, 0.0, None))
        else:
            bmu = bsum / bn
            dev = list(map(sub, block, repeat(bmu)))  # two-pass within the block
            parts.append((bsum, *extremes, 0, 0, 0, bn, bmu, sum(map(mul, dev, dev)), None))
        if kept is not None:
            kept.extend(block)
    total, lo, hi, ni, si, s2i, nf, muf, m2f, _ = stats_combine(parts, median=False)
    return total, lo, hi, ni, si, s2i, nf, muf, m2f, kept


def stats_combine(partials: list[StatsPartial], median: bool = True) -> StatsPartial:
    """Merge partials, in order (the kept values are concatenated)."""
    total, lo, hi, ni, si, s2i, nf, muf, m2f, _ = _EMPTY
    kept = array("d") if median else None
    for ptotal, plo, phi, pni, psi, ps2i, pnf, pmuf, pm2f, pkept in partials:
        if pni + pnf == 0:
            continue
        total += ptotal
        lo = plo if lo is None or plo < lo else lo
        hi = phi if hi is None or phi > hi else hi
        ni, si, s2i = ni + pni, si + psi, s2i + ps2i
        nf, muf, m2f = chan(nf, muf, m2f, pnf, pmuf, pm2f)
        if kept is not None and pkept is not None:
            kept.extend(pkept)
    return total, lo, hi, ni, si, s2i, nf, muf, m2f, kept


def _stdev(ni: int, si: int, s2i: int, nf: int, muf: float, m2f: float) -> float:
    n = ni + nf
    if n < 2:
        return 0.0
    if nf == 0:  # all ints: n*M2 = n*sum(x^2) - sum(x)^2 exactly, one rounding at the end
        return math.sqrt((ni * s2i - si * si) / (n * (n - 1)))
    if ni:
        _, muf, m2f = chan(nf, muf, m2f, ni, si / ni, (ni * s2i - si * si) / ni)
    return math.sqrt(m2f / (n - 1))


def stats_finish(part: StatsPartial, median: bool = True) -> dict[str, Any]:
    """The ``numeric.stats`` dict from a (combined) partial."""
    total, lo, hi, ni, si, s2i, nf, muf, m2f, kept = part
    n = ni + nf
    if n == 0:
        return dict(_EMPTY_STATS)
    med = None
    if kept is not None:
        med = _median(kept, ints=nf == 0, finite=nf == 0 or math.isfinite(total))
    return {"count": n, "min": lo, "max": hi, "mean": total / n,
            "stdev": _stdev(ni, si, s2i, nf, muf, m2f), "median": med}


def _window(data: array, k: int, width: int) -> list[float]:
    """The values of ranks k .. k+width-1 (0-based) in sorted order, without sorting all.

    A strided sample guesses a value range around rank k; one C-speed pass counts
    what lies below it and another collects what lies inside. Falls back to a full
    sort (exact, more memory) when the guess misses, e.g. on adversarial orderings.
    """
    n = len(data)
    if n <= 4 * _BLOCK:
        return sorted(data)[k:k + width]
    sample = sorted(data[:: n // 4096])
    m = len(sample)
    at, margin = k * m // n, 3 * math.isqrt(m) + 8
    lo, hi = sample[max(0, at - margin)], sample[min(m - 1, at + margin)]
    below = sum(map(partial(gt, lo), data))  # how many x < lo
    inside = sorted(filter(partial(le, lo), filter(partial(ge, hi), data)))
    if below <= k and k + width <= below + len(inside):
        return inside[k - below:k - below + width]
    return sorted(data)[k:k + width]


def _median(data: array, ints: bool, finite: bool) -> Number:
    if not finite and any(map(math.isnan, data)):
        return math.nan
    n = len(data)
    if n % 2:
        mid = _window(data, n // 2, 1)[0]
        # Odd count of ints: the middle value itself, as statistics.median gives.
        return int(mid) if ints else mid
    a, b = _window(data, n // 2 - 1, 2)
    return (a + b) / 2


