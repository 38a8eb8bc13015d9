"""Wall-clock limits in tests, scaled for slow or busy machines.

Every test that asserts how long something may take is marked ``@pytest.mark.timing``
and takes its limit from :func:`limit`, which multiplies it by ``FLOW_TEST_TIME_SCALE``
(default 1). The limits themselves are what flow promises on the 2-core CI machine; the
factor only says how much slower this machine is, and never loosens one limit more than
another.
"""

from __future__ import annotations

import os

ENV = "FLOW_TEST_TIME_SCALE"


def _scale() -> float:
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{ENV} must be a positive number, got {raw!r}")
    return value


SCALE = _scale()


def limit(seconds: float) -> float:
    """``seconds`` times the machine's scale factor: the wall-clock limit a test asserts."""
    return seconds * SCALE
