"""The edit stage of a score-only job: nothing is edited; the decoded image is what gets scored and filtered."""

from __future__ import annotations

from rayedit.rows import Batch


class PassThrough:
    """Adds ``edited`` = ``pixels`` (a light task: no model, no actor pool)."""

    def __call__(self, batch: Batch) -> Batch:
        batch["edited"] = batch["pixels"]  # the same array: nothing is edited, nothing is copied
        return batch
