"""What the numeric steps share: the number type, argument schemas, argument checks."""

from __future__ import annotations

from typing import Any

Number = int | float
NO_ARGS: dict[str, Any] = {"type": "object", "properties": {}}


def num_arg(description: str, **extra: Any) -> dict[str, Any]:
    """The schema of a number argument."""
    return {"type": "number", "description": description, **extra}


def check_bounds(name: str, lo: Number | None, hi: Number | None) -> None:
    """Refuse ``min`` greater than ``max`` (either may be absent)."""
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"{name}: min ({lo}) is greater than max ({hi})")
