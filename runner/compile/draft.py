"""A step on its way from the checked tree to a frozen StepSpec."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runner.errors import Pos
from steps.registry import StepDef


@dataclass
class Draft:
    """A step on its way to a StepSpec; ``inner`` holds an include's inlined steps."""

    id: str
    uses: str
    pos: Pos
    path: str
    id_pos: Pos
    sd: StepDef | None = None
    args: dict[str, Any] = field(default_factory=dict)
    sources: list[str] | None = None  # None: the step above
    source_pos: list[Pos] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    inner: list[Draft] | None = None
    output_pos: dict[str, Pos] = field(default_factory=dict)  # output argument -> its value
