"""Running two stages as one (explicit fusion), e.g. decode right after reading in the same task."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from rayedit.rows import Batch


class Then:
    """``Then(gen_stage, stage)(batch)`` yields ``stage(b)`` for every batch ``b`` that ``gen_stage`` yields."""

    def __init__(self, first: Callable[[Batch], Iterator[Batch]], second: Callable[[Batch], Batch]):
        self.first, self.second = first, second

    def __call__(self, batch: Batch) -> Iterator[Batch]:
        for out in self.first(batch):
            yield self.second(out)
