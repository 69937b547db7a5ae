"""Running two stages as one (explicit fusion): decode right after reading in the same task, scoring right after
editing in the same actor."""

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


class Chain:
    """``Chain(a, b)(batch)`` is ``b(a(batch))`` in one worker: two model stages sharing one process (e.g. scoring
    inside the edit actor). ``setup()`` sets up both."""

    def __init__(self, first: Callable[[Batch], Batch], second: Callable[[Batch], Batch]):
        self.first, self.second = first, second

    def setup(self) -> None:
        for stage in (self.first, self.second):
            setup = getattr(stage, "setup", None)
            if setup is not None:
                setup()

    def __call__(self, batch: Batch) -> Batch:
        return self.second(self.first(batch))
