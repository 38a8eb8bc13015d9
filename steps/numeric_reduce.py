"""Numeric reduce steps: sum, mean, count, min, max, stats and histogram.

Reduces with a :class:`~steps.registry.Fold` are computed per chunk inside the
workers: ``partial`` reads its iterable once, in flat memory except where noted.
Ints stay ints throughout (sums are exact). The map steps are in
:mod:`steps.numeric`.
"""

from __future__ import annotations

import builtins
from collections import deque
from collections.abc import Iterable
from itertools import compress, count
from typing import Any

from steps.numeric_args import NO_ARGS, Number, check_bounds, num_arg
from steps.numeric_stats import stats_combine, stats_finish, stats_partial
from steps.registry import Fold, step


def _sum_count(values: Iterable[Any]) -> tuple[Number, int]:
    """Sum and count in one C-speed pass: ``compress`` advances the counter per item."""
    counter = count(1)
    total = sum(compress(values, counter))
    return total, next(counter) - 1


def _sum_partial(values: Iterable[Any]) -> Number:
    return sum(values)


def _sum_combine(partials: list[Number]) -> Number:
    return sum(partials)


def _same(value: Any, **_: Any) -> Any:
    return value


@step("numeric.sum", kind="reduce", schema=NO_ARGS, takes="number", gives="number",
      fold=Fold(_sum_partial, _sum_combine, _same))
def sum_(values: Iterable[Number]) -> Number:
    """The sum of all values (exact for ints; 0 for none)."""
    return sum(values)


def _mean_combine(partials: list[tuple[Number, int]]) -> tuple[Number, int]:
    return sum(p[0] for p in partials), sum(p[1] for p in partials)


def _mean_finish(part: tuple[Number, int]) -> float:
    total, n = part
    if n == 0:
        raise ValueError("numeric.mean of no values")
    return total / n


@step("numeric.mean", kind="reduce", schema=NO_ARGS, takes="number", gives="number",
      fold=Fold(_sum_count, _mean_combine, _mean_finish))
def mean(values: Iterable[Number]) -> float:
    """The arithmetic mean (an exact sum divided once; no values fails)."""
    return _mean_finish(_sum_count(values))


def _count_partial(values: Iterable[Any]) -> int:
    counter = count(1)
    deque(compress(values, counter), maxlen=0)
    return next(counter) - 1


@step("numeric.count", kind="reduce", schema=NO_ARGS, takes="any", gives="number",
      fold=Fold(_count_partial, _sum_combine, _same))
def count_(values: Iterable[Any]) -> int:
    """How many items there are."""
    return _count_partial(values)


def _extreme(name: str, pick: Any) -> tuple[Any, Any, Any, Any]:
    def part(values: Iterable[Any]) -> Any:
        return pick(values, default=None)

    def comb(partials: list[Any]) -> Any:
        return pick((p for p in partials if p is not None), default=None)

    def fin(value: Any) -> Any:
        if value is None:
            raise ValueError(f"numeric.{name} of no values")
        return value

    def fn(values: Iterable[Any]) -> Any:
        return fin(part(values))

    return part, comb, fin, fn


_min_part, _min_comb, _min_fin, _min_fn = _extreme("min", builtins.min)
_max_part, _max_comb, _max_fin, _max_fn = _extreme("max", builtins.max)


@step("numeric.min", kind="reduce", schema=NO_ARGS, takes="number", gives="number",
      fold=Fold(_min_part, _min_comb, _min_fin))
def min_(values: Iterable[Number]) -> Number:
    """The smallest value (no values fails)."""
    return _min_fn(values)


@step("numeric.max", kind="reduce", schema=NO_ARGS, takes="number", gives="number",
      fold=Fold(_max_part, _max_comb, _max_fin))
def max_(values: Iterable[Number]) -> Number:
    """The largest value (no values fails)."""
    return _max_fn(values)


# ---------------------------------------------------------------- stats

# The fold's pieces and the median's selection live in steps/numeric_stats.py.
_STATS_SCHEMA = {"type": "object", "properties": {
    "median": {"type": "boolean", "default": True,
               "description": "compute the median; it keeps every value (8 bytes each) "
                              "until the end; false keeps memory flat"}}}


@step("numeric.stats", kind="reduce", schema=_STATS_SCHEMA, takes="number", gives="any",
      fold=Fold(stats_partial, stats_combine, stats_finish))
def stats(values: Iterable[Number], median: bool = True) -> dict[str, Any]:
    """Count, min, max, mean, sample stdev and median of all values, as a dict.

    With no values: count 0 and None for the rest. ``stdev`` is the sample standard
    deviation (as ``statistics.stdev``), 0 for one value; exact for ints whatever the
    chunking. The median costs 8 bytes a value (kept as ``array('d')``, so ints beyond
    2**53 lose precision there); ``median: false`` keeps memory flat.
    """
    return stats_finish(stats_partial(values, median), median)


# ---------------------------------------------------------------- histogram

_HIST_SCHEMA = {"type": "object", "properties": {
    "bins": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 10,
             "description": "number of equal-width bins"},
    "min": num_arg("left edge (default: the smallest value); smaller values are ignored"),
    "max": num_arg("right edge (default: the largest value); larger values are ignored")}}


@step("numeric.histogram", kind="reduce", schema=_HIST_SCHEMA, takes="number", gives="any")
def histogram(values: Iterable[Number], bins: int = 10, min: Number | None = None,  # noqa: A002
              max: Number | None = None) -> dict[str, list[Any]]:  # noqa: A002
    """Counts of the values in equal-width bins: a dict of edges and counts.

    ``{"edges": [bins + 1 numbers], "counts": [bins ints]}``, as numpy.histogram:
    each bin holds [left, right), the last one also its right edge.
    """
    data = list(values)
    check_bounds("numeric.histogram", min, max)
    if not data and (min is None or max is None):
        return {"edges": [], "counts": []}
    lo = builtins.min(data) if min is None else min
    hi = builtins.max(data) if max is None else max
    if lo == hi:  # one distinct value: a unit-wide range around it, as numpy does
        lo, hi = lo - 0.5, hi + 0.5
    width = (hi - lo) / bins
    edges = [lo + i * width for i in range(bins)] + [hi]
    counts = [0] * bins
    last = bins - 1
    for x in data:
        if not lo <= x <= hi:
            continue
        i = builtins.min(int((x - lo) / width), last)
        # Float rounding can put x one bin off its edges; correct it as numpy does.
        if x < edges[i]:
            i -= 1
        elif i < last and x >= edges[i + 1]:
            i += 1
        counts[i] += 1
    return {"edges": edges, "counts": counts}
