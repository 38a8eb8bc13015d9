"""Numeric steps: map steps with C-speed ``batch`` paths, reduces that fold per chunk.

Every map step's ``batch(values, **with)`` returns an iterator equal to mapping the
step function item by item, built from C-level ``map``/``filter``/``accumulate`` so
a worker pays no Python frame per item. The step functions themselves turn
Python's terse errors (``math domain error``) into reasons a user can act on; the
worker falls back to them, item by item, when a batch raises.

Reduces with a :class:`~steps.registry.Fold` are computed per chunk inside the
workers: ``partial`` reads its iterable once, in flat memory except where noted.
Ints stay ints throughout (sums are exact).
"""

from __future__ import annotations

import builtins
import math
from collections import deque
from collections.abc import Iterable, Iterator
from functools import partial
from itertools import accumulate, compress, count, repeat
from operator import add, ge, le, mul
from typing import Any

from steps.numeric_stats import stats_combine, stats_finish, stats_partial
from steps.registry import Fold, step

Number = int | float
_NO_ARGS: dict[str, Any] = {"type": "object", "properties": {}}


def _num(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "number", "description": description, **extra}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _not_a_number(name: str, value: Any) -> TypeError:
    return TypeError(f"{name} needs a number, got {type(value).__name__} {_short(value)}")


# ---------------------------------------------------------------- map steps

def _range_squares(r: range) -> Iterator[int]:
    """Squares of a range by running sums of odd steps: one int add per item.

    (x + s)^2 - x^2 = 2*s*x + s^2, an arithmetic sequence; ``accumulate`` adds it up
    in C. About 25% faster than ``map(mul, r, r)``, which makes two ints per item.
    """
    n = len(r)
    if n == 0:
        return iter(())
    s, a = r.step, r.start
    d0, dd = 2 * s * a + s * s, 2 * s * s
    return accumulate(range(d0, d0 + dd * (n - 1), dd), initial=a * a)


def _square_batch(values: Iterable[Any]) -> Iterator[Any]:
    kind = type(values)
    if kind is range:
        return _range_squares(values)  # type: ignore[arg-type]
    if kind is list or kind is tuple:
        return map(mul, values, values)  # two list iterators: no copies
    # A one-shot iterator can be read once only; a generator beats tee() here.
    return (x * x for x in values)


@step("numeric.square", schema=_NO_ARGS, takes="number", gives="number", batch=_square_batch,
      drops=False)
def square(value: Number) -> Number:
    """The value times itself (ints stay exact ints)."""
    try:
        return value * value
    except TypeError:
        raise _not_a_number("numeric.square", value) from None


def _cube_batch(values: Iterable[Any]) -> Iterator[Any]:
    return map(pow, values, repeat(3))


@step("numeric.cube", schema=_NO_ARGS, takes="number", gives="number", batch=_cube_batch,
      drops=False)
def cube(value: Number) -> Number:
    """The value to the third power (ints stay exact ints)."""
    try:
        return value ** 3
    except TypeError:
        raise _not_a_number("numeric.cube", value) from None


def _pow_of(exponent: Number) -> Any:
    # A float exponent goes through math.pow, which raises for a negative base
    # where ** would quietly give a complex number; same C pow() otherwise.
    return math.pow if isinstance(exponent, float) else pow


def _power_batch(values: Iterable[Any], exponent: Number) -> Iterator[Any]:
    return map(_pow_of(exponent), values, repeat(exponent))


_POWER_SCHEMA = {"type": "object", "required": ["exponent"], "properties": {
    "exponent": _num("the power to raise each value to; a whole number keeps ints exact")}}


@step("numeric.power", schema=_POWER_SCHEMA, takes="number", gives="number", batch=_power_batch,
      drops=False)
def power(value: Number, exponent: Number) -> Number:
    """The value raised to the given exponent."""
    try:
        return _pow_of(exponent)(value, exponent)
    except TypeError:
        raise _not_a_number("numeric.power", value) from None
    except ValueError:
        raise ValueError(f"numeric.power: {_short(value)} ** {exponent} is not a real "
                         "number") from None
    except ZeroDivisionError:
        raise ZeroDivisionError(f"numeric.power: 0 ** {exponent} is undefined") from None


def _scale_batch(values: Iterable[Any], factor: Number = 1, offset: Number = 0) -> Iterator[Any]:
    return map(add, map(mul, values, repeat(factor)), repeat(offset))

_SCALE_SCHEMA = {"type": "object", "minProperties": 1, "properties": {
    "factor": _num("multiply by this (default 1)", default=1),
    "offset": _num("then add this (default 0)", default=0)}}


@step("numeric.scale", schema=_SCALE_SCHEMA, takes="number", gives="number", batch=_scale_batch,
      drops=False)
def scale(value: Number, factor: Number = 1, offset: Number = 0) -> Number:
    """Multiply by factor, then add offset."""
    try:
        return value * factor + offset
    except TypeError:
        raise _not_a_number("numeric.scale", value) from None


def _check_bounds(name: str, lo: Number | None, hi: Number | None) -> None:
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"{name}: min ({lo}) is greater than max ({hi})")


def _clip_batch(values: Iterable[Any], min: Number | None = None,  # noqa: A002
                max: Number | None = None) -> Iterator[Any]:  # noqa: A002
    _check_bounds("numeric.clip", min, max)
    out: Iterator[Any] = iter(values)
    if min is not None:
        out = map(builtins.max, out, repeat(min))
    if max is not None:
        out = map(builtins.min, out, repeat(max))
    return out


_BOUNDS = {
    "min": _num("lower bound, inclusive"),
    "max": _num("upper bound, inclusive"),
}
_BOUNDS_SCHEMA = {"type": "object", "properties": _BOUNDS,
                  "anyOf": [{"required": ["min"]}, {"required": ["max"]}]}


@step("numeric.clip", schema=_BOUNDS_SCHEMA, takes="number", gives="number", batch=_clip_batch,
      drops=False)
def clip(value: Number, min: Number | None = None,  # noqa: A002 - the user's names
         max: Number | None = None) -> Number:  # noqa: A002
    """The value limited to [min, max]."""
    _check_bounds("numeric.clip", min, max)
    try:
        # Same comparisons, in the same order, as builtins.max/min in the batch path.
        if min is not None and min > value:
            value = min
        if max is not None and max < value:
            value = max
    except TypeError:
        raise _not_a_number("numeric.clip", value) from None
    return value


def _round_batch(values: Iterable[Any], digits: int = 0) -> Iterator[Any]:
    return map(round, values) if digits == 0 else map(round, values, repeat(digits))


_ROUND_SCHEMA = {"type": "object", "properties": {
    "digits": {"type": "integer", "minimum": -300, "maximum": 300, "default": 0,
               "description": "decimal places (0 gives whole numbers; negative rounds to "
                              "tens, hundreds...); halves round to even, as in Python"}}}


@step("numeric.round", schema=_ROUND_SCHEMA, takes="number", gives="number", batch=_round_batch,
      drops=False)
def round_(value: Number, digits: int = 0) -> Number:
    """The value rounded to the given decimal places (halves to even)."""
    try:
        return round(value) if digits == 0 else round(value, digits)
    except TypeError:
        raise _not_a_number("numeric.round", value) from None


def _abs_batch(values: Iterable[Any]) -> Iterator[Any]:
    return map(abs, values)


@step("numeric.abs", schema=_NO_ARGS, takes="number", gives="number", batch=_abs_batch,
      drops=False)
def abs_(value: Number) -> Number:
    """The value without its sign."""
    try:
        return abs(value)
    except TypeError:
        raise _not_a_number("numeric.abs", value) from None


def _sqrt_batch(values: Iterable[Any]) -> Iterator[Any]:
    return map(math.sqrt, values)


@step("numeric.sqrt", schema=_NO_ARGS, takes="number", gives="number", batch=_sqrt_batch,
      drops=False)
def sqrt(value: Number) -> float:
    """The square root (a negative value fails its item)."""
    try:
        return math.sqrt(value)
    except TypeError:
        raise _not_a_number("numeric.sqrt", value) from None
    except ValueError:
        raise ValueError(f"numeric.sqrt of a negative number: {_short(value)}") from None


def _log_of(base: Number | None) -> Any:
    # log10/log2 are exact on powers of their base, unlike log(x, 10).
    if base is None:
        return math.log
    if base == 10:
        return math.log10
    if base == 2:
        return math.log2
    return partial(_log_base, base=base)


def _log_base(value: Number, base: Number) -> float:
    return math.log(value, base)


def _log_batch(values: Iterable[Any], base: Number | None = None) -> Iterator[Any]:
    return map(_log_of(base), values)


_LOG_SCHEMA = {"type": "object", "properties": {
    "base": _num("logarithm base (default e); 10 and 2 are exact on their powers",
                 exclusiveMinimum=0, **{"not": {"const": 1}})}}


@step("numeric.log", schema=_LOG_SCHEMA, takes="number", gives="number", batch=_log_batch,
      drops=False)
def log(value: Number, base: Number | None = None) -> float:
    """The logarithm (natural unless a base is given); a value <= 0 fails its item."""
    try:
        return _log_of(base)(value)
    except TypeError:
        raise _not_a_number("numeric.log", value) from None
    except ValueError:
        raise ValueError(f"numeric.log of a number <= 0: {_short(value)}") from None


def _filter_batch(values: Iterable[Any], min: Number | None = None,  # noqa: A002
                  max: Number | None = None) -> Iterator[Any]:  # noqa: A002
    _check_bounds("numeric.filter", min, max)
    out: Iterator[Any] = iter(values)
    if min is not None:
        out = filter(partial(le, min), out)  # min <= x
    if max is not None:
        out = filter(partial(ge, max), out)  # max >= x
    return out


@step("numeric.filter", schema=_BOUNDS_SCHEMA, takes="number", gives="number",
      batch=_filter_batch)
def filter_(value: Number, min: Number | None = None,  # noqa: A002
            max: Number | None = None) -> Number | None:  # noqa: A002
    """Keep values within [min, max] (inclusive); drop the others."""
    _check_bounds("numeric.filter", min, max)
    try:
        if (min is None or min <= value) and (max is None or max >= value):
            return value
    except TypeError:
        raise _not_a_number("numeric.filter", value) from None
    return None


# ---------------------------------------------------------------- reduces

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


@step("numeric.sum", kind="reduce", schema=_NO_ARGS, takes="number", gives="number",
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


@step("numeric.mean", kind="reduce", schema=_NO_ARGS, takes="number", gives="number",
      fold=Fold(_sum_count, _mean_combine, _mean_finish))
def mean(values: Iterable[Number]) -> float:
    """The arithmetic mean (an exact sum divided once; no values fails)."""
    return _mean_finish(_sum_count(values))


def _count_partial(values: Iterable[Any]) -> int:
    counter = count(1)
    deque(compress(values, counter), maxlen=0)
    return next(counter) - 1


@step("numeric.count", kind="reduce", schema=_NO_ARGS, takes="any", gives="number",
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


@step("numeric.min", kind="reduce", schema=_NO_ARGS, takes="number", gives="number",
      fold=Fold(_min_part, _min_comb, _min_fin))
def min_(values: Iterable[Number]) -> Number:
    """The smallest value (no values fails)."""
    return _min_fn(values)


@step("numeric.max", kind="reduce", schema=_NO_ARGS, takes="number", gives="number",
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
    "min": _num("left edge (default: the smallest value); smaller values are ignored"),
    "max": _num("right edge (default: the largest value); larger values are ignored")}}


@step("numeric.histogram", kind="reduce", schema=_HIST_SCHEMA, takes="number", gives="any")
def histogram(values: Iterable[Number], bins: int = 10, min: Number | None = None,  # noqa: A002
              max: Number | None = None) -> dict[str, list[Any]]:  # noqa: A002
    """Counts of the values in equal-width bins: a dict of edges and counts.

    ``{"edges": [bins + 1 numbers], "counts": [bins ints]}``, as numpy.histogram:
    each bin holds [left, right), the last one also its right edge.
    """
    data = list(values)
    _check_bounds("numeric.histogram", min, max)
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
