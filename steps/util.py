"""Utility steps for demos and tests."""

from __future__ import annotations

import time
from typing import Any

from steps.registry import step

_SLEEP_SCHEMA = {
    "type": "object",
    "properties": {
        "seconds": {"type": "number", "minimum": 0, "maximum": 86400,
                    "description": "how long to wait per item, in seconds"},
    },
    "required": ["seconds"],
}


@step("util.sleep", schema=_SLEEP_SCHEMA, takes="any", gives="any")
def sleep(value: Any, seconds: float) -> Any:
    """Wait the given seconds, then pass the item on unchanged (for demos and tests)."""
    time.sleep(seconds)
    return value
