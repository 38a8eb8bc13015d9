"""Frozen dataclasses: what a validated workflow is, past the loader.

Raw YAML dicts never get past ``load.py``/``schema.py``; everything after them
sees these types. ``Pos`` ties each part back to its file, line and column so
that errors found later (a glob with no match, two items writing one path) can
still point at what the user wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from runner.errors import Pos

Mode = Literal["map", "async", "serial"]
OnError = Literal["continue", "stop"]


@dataclass(frozen=True)
class Parallel:
    """How a step's items are spread: ``None`` workers/chunksize mean ``auto``."""

    mode: Mode = "map"
    workers: int | None = None
    chunksize: int | None = None


@dataclass(frozen=True)
class GlobSource:
    """Files matching patterns (SPEC 1.2)."""

    patterns: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    allow_empty: bool = False


@dataclass(frozen=True)
class RangeSource:
    """Numbers as Python's ``range``, floats allowed."""

    start: float
    stop: float
    step: float = 1


@dataclass(frozen=True)
class ValuesSource:
    """A literal list of numbers or strings."""

    values: tuple[Any, ...]


@dataclass(frozen=True)
class CsvSource:
    """One column of one or more CSV files."""

    path: str | None  # exactly one of path / glob
    glob: str | None
    column: str | int
    header: bool = True


Source = GlobSource | RangeSource | ValuesSource | CsvSource


@dataclass(frozen=True)
class Input:
    """A named item source and where it was written."""

    name: str
    source: Source
    pos: Pos


@dataclass(frozen=True)
class Args:
    """A step's ``with`` arguments, params already substituted; hashable and picklable."""

    items: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, mapping: dict[str, Any]) -> Args:
        """Args from a plain mapping, keys sorted."""
        return cls(tuple(sorted(mapping.items())))

    def as_dict(self) -> dict[str, Any]:
        """The arguments as a plain dict."""
        return dict(self.items)

    def get(self, key: str, default: Any = None) -> Any:
        """One argument, or ``default``."""
        for k, v in self.items:
            if k == key:
                return v
        return default


@dataclass(frozen=True)
class StepSpec:
    """One step as the user wrote it, resolved against the registry."""

    id: str
    uses: str  # as written: "image.resize", "py:pkg.mod:fn"
    ref: str  # "module:qualname" of the function, for workers
    kind: Literal["map", "reduce"]
    args: Args
    sources: tuple[str, ...]  # input names or step ids, in order
    parallel: Parallel = Parallel()
    retries: int = 0
    timeout: float | None = None
    on_error: OnError = "continue"
    # Names of args that are per-item output templates ("to": "{stem}.jpg").
    outputs: tuple[str, ...] = ()
    takes: str = "any"
    gives: str = "any"
    pos: Pos = field(default_factory=lambda: Pos(""))


@dataclass(frozen=True)
class ExecutorSpec:
    """Where the workflow runs, as its file says (the command line wins)."""

    kind: Literal["local", "dask"] = "local"
    address: str | None = None


@dataclass(frozen=True)
class Workflow:
    """A validated workflow, ready to plan and run."""

    name: str
    path: str  # the workflow file
    workdir: str  # where relative paths resolve and outputs must stay
    inputs: tuple[Input, ...]
    steps: tuple[StepSpec, ...]
    description: str = ""
    params: tuple[tuple[str, Any], ...] = ()
    executor: ExecutorSpec = ExecutorSpec()

    def input(self, name: str) -> Input | None:
        """The input called ``name``, if any."""
        return next((i for i in self.inputs if i.name == name), None)

    def step(self, step_id: str) -> StepSpec | None:
        """The step with this id, if any."""
        return next((s for s in self.steps if s.id == step_id), None)
