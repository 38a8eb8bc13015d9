"""Numeric steps: each function, its batch path, and its fold, against plain Python."""

from __future__ import annotations

import math
import random
import statistics

import jsonschema
import pytest

from steps import numeric as N
from steps import numeric_reduce as R
from steps.registry import load_registry, resolve_ref, step_def

INTS = [3, -7, 0, 12, 5, 5, 2**40, -1]
FLOATS = [0.1, -2.5, 3.25, 1e-9, 7.0, -0.0, 1e12 / 7]
POSITIVE = [1, 2, 10, 0.5, 1e6, 3]

# step function, its `with` arguments, inputs it accepts
MAPS = [
    (N.square, {}, INTS + FLOATS),
    (N.cube, {}, INTS + FLOATS),
    (N.power, {"exponent": 3}, INTS + FLOATS),
    (N.power, {"exponent": -2}, [v for v in INTS + FLOATS if v]),
    (N.power, {"exponent": 0.5}, POSITIVE),
    (N.scale, {"factor": 3, "offset": -1}, INTS + FLOATS),
    (N.scale, {"factor": 0.5}, INTS + FLOATS),
    (N.clip, {"min": 0, "max": 6}, INTS + FLOATS),
    (N.clip, {"max": 1.5}, INTS + FLOATS),
    (N.round_, {}, FLOATS + INTS),
    (N.round_, {"digits": 2}, FLOATS + INTS),
    (N.round_, {"digits": -1}, FLOATS + INTS),
    (N.abs_, {}, INTS + FLOATS),
    (N.sqrt, {}, POSITIVE + [0]),
    (N.log, {}, POSITIVE),
    (N.log, {"base": 10}, POSITIVE),
    (N.log, {"base": 2}, POSITIVE),
    (N.log, {"base": 3}, POSITIVE),
    (N.filter_, {"min": 0, "max": 6}, INTS + FLOATS),
    (N.filter_, {"min": 3}, INTS + FLOATS),
]


def one_shot(values):
    return (v for v in values)  # an iterator that can be read once only


@pytest.mark.parametrize("fn, args, values", MAPS,
                         ids=[f"{step_def(f).name}{a}" for f, a, _ in MAPS])
def test_batch_equals_the_function_item_by_item(fn, args, values):
    expected = [r for r in (fn(v, **args) for v in values) if r is not None]
    batch = step_def(fn).batch
    for shape in (list, tuple, one_shot):
        got = list(batch(shape(values), **args))
        assert got == expected
        assert [type(x) for x in got] == [type(x) for x in expected]


@pytest.mark.parametrize("r", [range(0), range(1), range(5, 6), range(-7, 20, 3),
                               range(20, -7, -3), range(10**6, 10**6 + 1000),
                               range(3, 1)])
def test_square_of_a_range_is_exact(r):
    assert list(N._square_batch(r)) == [x * x for x in r]
    assert list(step_def(N.square).batch(r)) == [N.square(x) for x in r]


def test_ints_stay_exact_ints():
    assert N.square(3) == 9 and type(N.square(3)) is int
    assert N.square(2**70) == 2**140
    assert N.cube(-3) == -27 and type(N.cube(-3)) is int
    assert N.scale(7, factor=3, offset=1) == 22 and type(N.scale(7, factor=3, offset=1)) is int
    assert N.round_(2.5) == 2 and type(N.round_(2.5)) is int  # halves to even, as Python
    assert sum(step_def(N.square).batch(range(10**6))) == sum(x * x for x in range(10**6))


@pytest.mark.parametrize("call, kind, text", [
    (lambda: N.sqrt(-4), ValueError, "numeric.sqrt of a negative number: -4"),
    (lambda: N.log(0), ValueError, "numeric.log of a number <= 0: 0"),
    (lambda: N.log(-1.5, base=10), ValueError, "numeric.log of a number <= 0: -1.5"),
    (lambda: N.power(-8, exponent=1 / 3), ValueError, "is not a real number"),
    (lambda: N.power(0, exponent=-1), ZeroDivisionError, "0 ** -1 is undefined"),
    (lambda: N.square("ab"), TypeError, "numeric.square needs a number, got str 'ab'"),
    (lambda: N.scale("ab", factor=2), TypeError, "numeric.scale needs a number"),
    (lambda: N.clip(5, min=3, max=1), ValueError, "min (3) is greater than max (1)"),
    (lambda: N.filter_("x", min=1), TypeError, "numeric.filter needs a number"),
])
def test_bad_values_fail_with_a_clear_reason(call, kind, text):
    with pytest.raises(kind, match=text.replace("(", r"\(").replace(")", r"\)")
                       .replace("*", r"\*")):
        call()


@pytest.mark.parametrize("fn, args, bad", [
    (N.sqrt, {}, -1), (N.log, {}, 0), (N.scale, {"factor": 2}, "ab"), (N.square, {}, "ab"),
    (N.power, {"exponent": 0.5}, -2), (N.round_, {}, "x"), (N.clip, {"min": 0}, "x"),
])
def test_a_batch_raises_where_the_function_does(fn, args, bad):
    # The worker falls back to the function item by item when the batch raises, so a
    # batch must never quietly give a value (like "abab") the function would refuse.
    with pytest.raises((TypeError, ValueError)):
        list(step_def(fn).batch([1, bad, 2], **args))


# ---------------------------------------------------------------- reduces and folds

def chunked(values, size):
    return [values[i:i + size] for i in range(0, len(values), size)] or [[]]


def folded(fn, values, size, **args):
    fold = step_def(fn).fold
    parts = [fold.partial(iter(c), **args) for c in chunked(values, size)]
    return fold.finish(fold.combine(parts, **args), **args)


RNG = random.Random(7)
INT_DATA = [RNG.randrange(-10**6, 10**6) for _ in range(2001)]
FLOAT_DATA = [RNG.gauss(100, 15) for _ in range(2000)]


@pytest.mark.parametrize("fn", [R.sum_, R.count_, R.min_, R.max_, R.mean, R.stats])
@pytest.mark.parametrize("size", [1, 3, 64, 1000, 10**6])
def test_fold_equals_the_plain_reduce_on_ints(fn, size):
    assert folded(fn, INT_DATA, size) == fn(INT_DATA)


@pytest.mark.parametrize("fn", [R.sum_, R.count_, R.min_, R.max_, R.mean, R.stats])
@pytest.mark.parametrize("size", [1, 7, 500, 10**6])
def test_fold_equals_the_plain_reduce_on_floats(fn, size):
    got, want = folded(fn, FLOAT_DATA, size), fn(FLOAT_DATA)
    if size >= len(FLOAT_DATA):  # one chunk: exactly the same computation
        assert got == want
    elif isinstance(want, dict):
        assert got.keys() == want.keys()
        for key in want:
            assert got[key] == pytest.approx(want[key], rel=1e-12), key
    else:
        assert got == pytest.approx(want, rel=1e-12)


def test_fold_partials_read_a_one_shot_iterator_once():
    for fn in (R.sum_, R.count_, R.mean, R.stats, R.min_, R.max_):
        fold = step_def(fn).fold
        assert fold.finish(fold.combine([fold.partial(iter(INT_DATA))])) == fn(INT_DATA)


def test_stats_match_the_statistics_module():
    for data in (INT_DATA, FLOAT_DATA, [4, 1, 3, 2], [2.5]):
        got = R.stats(data)
        assert got["count"] == len(data)
        assert got["min"] == min(data) and got["max"] == max(data)
        assert got["mean"] == pytest.approx(statistics.fmean(data), rel=1e-14)
        assert got["median"] == statistics.median(data)
        want_sd = statistics.stdev(data) if len(data) > 1 else 0.0
        assert got["stdev"] == pytest.approx(want_sd, rel=1e-12)
    assert R.stats([7])["stdev"] == 0.0
    assert R.stats([1, 2, 3])["median"] == 2 and type(R.stats([1, 2, 3])["median"]) is int


def test_stats_of_nothing_is_count_zero_and_none():
    assert R.stats([]) == {"count": 0, "min": None, "max": None, "mean": None,
                           "stdev": None, "median": None}
    assert folded(R.stats, [], 10) == R.stats([])


def test_stats_median_of_large_and_adversarial_inputs_is_exact():
    rng = random.Random(3)
    big = [rng.random() for _ in range(300_001)]
    for data in (big, sorted(big), sorted(big, reverse=True), [1.0] * 150_000 + [2.0] * 150_001,
                 big[:-1]):
        assert R.stats(data)["median"] == statistics.median(data)
        assert folded(R.stats, data, 70_000)["median"] == statistics.median(data)


def test_stats_without_median_keeps_nothing():
    part = step_def(R.stats).fold.partial(iter(FLOAT_DATA), median=False)
    assert part[-1] is None
    got = R.stats(FLOAT_DATA, median=False)
    assert got["median"] is None and got["count"] == len(FLOAT_DATA)


def test_stats_stdev_is_stable_far_from_zero():
    data = [1e9 + x for x in (4.0, 7.0, 13.0, 16.0)] * 50_000  # naive sum-of-squares fails
    assert folded(R.stats, data, 33_333)["stdev"] == pytest.approx(statistics.stdev(data),
                                                                   rel=1e-9)


def test_mean_min_max_of_nothing_fail_clearly():
    for fn, text in ((R.mean, "numeric.mean of no values"), (R.min_, "numeric.min of no"),
                     (R.max_, "numeric.max of no")):
        with pytest.raises(ValueError, match=text):
            fn([])
        with pytest.raises(ValueError, match=text):
            folded(fn, [], 5)
    assert R.sum_([]) == 0 and R.count_([]) == 0


def test_histogram_like_numpy():
    got = R.histogram([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], bins=5)
    assert got == {"edges": [0, 2.0, 4.0, 6.0, 8.0, 10], "counts": [2, 2, 2, 2, 3]}
    got = R.histogram([0.1, 0.2, 0.7, 5, -1], bins=2, min=0, max=1)
    assert got["counts"] == [2, 1] and got["edges"] == [0, 0.5, 1]
    assert R.histogram([3, 3, 3], bins=2) == {"edges": [2.5, 3.0, 3.5], "counts": [0, 3]}
    assert R.histogram([], bins=3) == {"edges": [], "counts": []}
    data = [RNG.random() for _ in range(10_000)]
    got = R.histogram(data, bins=7)
    assert sum(got["counts"]) == len(data)
    for i, c in enumerate(got["counts"]):
        lo, hi = got["edges"][i], got["edges"][i + 1]
        assert c == sum(lo <= x < hi or (i == 6 and x == hi) for x in data)


# ---------------------------------------------------------------- schemas

def test_every_builtin_step_declares_a_complete_schema():
    registry = load_registry()
    names = {"image.open", "image.auto_orient", "image.resize", "image.thumbnail", "image.crop",
             "image.rotate", "image.flip", "image.grayscale", "image.convert", "image.blur",
             "image.sharpen", "image.autocontrast", "image.save", "image.measure",
             "image.contact_sheet", "numeric.square", "numeric.cube", "numeric.power",
             "numeric.scale", "numeric.clip", "numeric.round", "numeric.abs", "numeric.sqrt",
             "numeric.log", "numeric.filter", "numeric.sum", "numeric.mean", "numeric.stats",
             "numeric.histogram", "io.write", "util.sleep"}
    assert names <= registry.keys()
    for name, sd in registry.items():
        if name.split(".")[0] not in ("image", "numeric", "io", "util"):
            continue
        assert resolve_ref(sd.ref) is sd.fn, name  # how a worker finds the function
        jsonschema.Draft202012Validator.check_schema(sd.schema)
        assert sd.schema["additionalProperties"] is False
        assert sd.description and "\n" not in sd.description, name
        for arg, spec in sd.schema.get("properties", {}).items():
            assert spec.get("description"), f"{name}.{arg}"
            assert "type" in spec or "oneOf" in spec, f"{name}.{arg}"
        for arg in sd.outputs:
            assert arg in sd.schema["required"], name


@pytest.mark.parametrize("name, args, ok", [
    ("image.resize", {"width": 100}, True),
    ("image.resize", {"widht": 100}, False),
    ("image.resize", {}, False),
    ("image.resize", {"width": 10, "fit": "fill"}, False),
    ("image.thumbnail", {"size": [200, 100]}, True),
    ("image.thumbnail", {"size": [200]}, False),
    ("image.crop", {"box": [0, 0, 5, 5]}, True),
    ("image.crop", {"box": [0, 0, 5, 5], "left": 1}, False),
    ("image.save", {"to": "out/{stem}.jpg", "quality": 85}, True),
    ("image.save", {"to": "x.jpg", "quality": 0}, False),
    ("numeric.log", {"base": 1}, False),
    ("numeric.clip", {}, False),
    ("numeric.filter", {"min": 1}, True),
    ("io.write", {"to": "a.yaml"}, False),
    ("util.sleep", {"seconds": -1}, False),
])
def test_schemas_accept_and_refuse(name, args, ok):
    valid = jsonschema.Draft202012Validator(load_registry()[name].schema).is_valid(args)
    assert valid is ok


def test_floats_and_nan_do_not_break_the_median():
    assert math.isnan(R.stats([1.0, math.nan, 3.0])["median"])
