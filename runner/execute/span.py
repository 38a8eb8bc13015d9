"""A range input's numbers as arithmetic, never as a list: the one place that counts them.

A :class:`Span` is ``count`` numbers, the i-th being ``start + i * step``. Pieces
of it (the sub-ranges tasks carry) are cut by index and keep the whole range's
``start`` and ``step``, so every number is computed the same way wherever it is
computed: a float step gives exactly ``count`` numbers, never one more because a
piece's stop was rounded (``0.1 * 12`` is ``1.2000000000000002``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Span:
    """Numbers ``start + i * step`` for ``i`` in ``[first, last)``; positions count from 0.

    ``first`` and ``last`` are indexes into the whole range, so a piece's numbers
    equal the whole range's numbers at the same places.
    """

    start: Any  # int when start and step are integral, else float
    step: Any
    first: int
    last: int

    @classmethod
    def of(cls, start: float, stop: float, step: float) -> Span:
        """The numbers of ``range(start, stop, step)``, floats allowed (``step`` not 0).

        Ints when start, stop and step are integral; the count is rounded up, as
        Python's ``range`` does (``0, 0.3, 0.1`` holds 3 numbers).
        """
        if all(float(x).is_integer() for x in (start, stop, step)):
            start, stop, step = int(start), int(stop), int(step)
            return cls(start, step, 0, len(range(start, stop, step)))
        return cls(start, step, 0, max(0, int(-(-(stop - start) // step))))

    @property
    def count(self) -> int:
        """How many numbers it holds."""
        return self.last - self.first

    def __len__(self) -> int:
        return self.count

    def at(self, i: int) -> Any:
        """The ``i``-th number of this span (0 is its first)."""
        if not 0 <= i < self.count:
            raise IndexError(f"position {i} outside a span of {self.count}")
        return self.start + (self.first + i) * self.step

    def sub(self, first: int, last: int) -> Span:
        """Its numbers at positions ``[first, last)`` (clipped to the span)."""
        lo = self.first + max(0, min(first, self.count))
        hi = self.first + max(0, min(last, self.count))
        return Span(self.start, self.step, lo, max(lo, hi))

    def __iter__(self) -> Iterator[Any]:
        start, step = self.start, self.step
        if isinstance(start, int) and isinstance(step, int):  # C speed for whole numbers
            return iter(range(start + self.first * step, start + self.last * step, step))
        return (start + i * step for i in range(self.first, self.last))
