"""Numeric map steps with C-speed ``batch`` paths (the reduces: :mod:`steps.numeric_reduce`).

Every map step's ``batch(values, **with)`` returns an iterator equal to mapping the
step function item by item, built from C-level ``map``/``filter``/``accumulate`` so
a worker pays no Python frame per item. The step functions themselves turn
Python's terse errors (``math domain error``) into reasons a user can act on; the
worker falls back to them, item by item, when a batch raises.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Iterable, Iterator
from functools import partial
from itertools import accumulate, repeat
from operator import add, ge, le, mul
from typing import Any

from steps.numeric_args import NO_ARGS, Number, check_bounds, num_arg
from steps.registry import step


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


@step("numeric.square", schema=NO_ARGS, takes="number", gives="number", batch=_square_batch,
      drops=False)
def square(value: Number) -> Number:
    """The value times itself (ints stay exact ints)."""
    try:
        return value * value
    except TypeError:
        raise _not_a_number("numeric.square", value) from None


def _cube_batch(values: Iterable[Any]) -> Iterator[Any]:
    return map(pow, values, repeat(3))


@step("numeric.cube", schema=NO_ARGS, takes="number", gives="number", batch=_cube_batch,
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
    "exponent": num_arg("the power to raise each value to; a whole number keeps ints exact")}}


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
    "factor": num_arg("multiply by this (default 1)", default=1),
    "offset": num_arg("then add this (default 0)", default=0)}}


@step("numeric.scale", schema=_SCALE_SCHEMA, takes="number", gives="number", batch=_scale_batch,
      drops=False)
def scale(value: Number, factor: Number = 1, offset: Number = 0) -> Number:
    """Multiply by factor, then add offset."""
    try:
        return value * factor + offset
    except TypeError:
        raise _not_a_number("numeric.scale", value) from None


def _clip_batch(values: Iterable[Any], min: Number | None = None,  # noqa: A002
                max: Number | None = None) -> Iterator[Any]:  # noqa: A002
    check_bounds("numeric.clip", min, max)
    out: Iterator[Any] = iter(values)
    if min is not None:
        out = map(builtins.max, out, repeat(min))
    if max is not None:
        out = map(builtins.min, out, repeat(max))
    return out


_BOUNDS = {
    "min": num_arg("lower bound, inclusive"),
    "max": num_arg("upper bound, inclusive"),
}
_BOUNDS_SCHEMA = {"type": "object", "properties": _BOUNDS,
                  "anyOf": [{"required": ["min"]}, {"required": ["max"]}]}


@step("numeric.clip", schema=_BOUNDS_SCHEMA, takes="number", gives="number", batch=_clip_batch,
      drops=False)
def clip(value: Number, min: Number | None = None,  # noqa: A002 - the user's names
         max: Number | None = None) -> Number:  # noqa: A002
    """The value limited to [min, max]."""
    check_bounds("numeric.clip", min, max)
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


@step("numeric.abs", schema=NO_ARGS, takes="number", gives="number", batch=_abs_batch,
      drops=False)
def abs_(value: Number) -> Number:
    """The value without its sign."""
    try:
        return abs(value)
    except TypeError:
        raise _not_a_number("numeric.abs", value) from None


def _sqrt_batch(values: Iterable[Any]) -> Iterator[Any]:
    return map(math.sqrt, values)


@step("numeric.sqrt", schema=NO_ARGS, takes="number", gives="number", batch=_sqrt_batch,
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
    "base": num_arg("logarithm base (default e); 10 and 2 are exact on their powers",
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
    check_bounds("numeric.filter", min, max)
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
    check_bounds("numeric.filter", min, max)
    try:
        if (min is None or min <= value) and (max is None or max >= value):
            return value
    except TypeError:
        raise _not_a_number("numeric.filter", value) from None
    return None
