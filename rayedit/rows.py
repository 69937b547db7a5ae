"""The rows that flow between stages and into the output: batches (dicts of equal-length numpy arrays), their
columns and the statuses a sample ends with - shared by ``stages/`` and ``storage/``.

Row columns: ``shard_id``, ``source``, ``key``, ``index``, ``caption``, ``status``, ``reason``,
``shard_rows`` and, depending on the stage, ``image`` (bytes), ``pixels``/``edited`` (uint8 HxWx3) and
``scores`` (JSON text of one mapping). ``status`` is ``ok`` while a sample is in flight, then
``edited``, ``filtered`` or ``failed``. One ``eos`` row per shard carries the shard's sample count in
``shard_rows`` so the driver knows when a shard is complete.
"""

from __future__ import annotations

import json

import numpy as np

Batch = dict[str, np.ndarray]

OK, EDITED, FILTERED, FAILED, EOS = "ok", "edited", "filtered", "failed", "eos"


def num_rows(batch: Batch) -> int:
    """Rows in a batch."""
    return len(next(iter(batch.values()))) if batch else 0


def obj_array(values) -> np.ndarray:
    """A 1-D object array (strings, bytes) that numpy will not try to broadcast."""
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def ok_mask(batch: Batch) -> np.ndarray:
    """Rows still in flight (not failed, filtered or an end-of-shard marker)."""
    return np.asarray(batch["status"]) == OK


def fail(batch: Batch, i: int, reason: str) -> None:
    """Mark row ``i`` failed with ``reason`` (in place)."""
    batch["status"][i] = FAILED
    batch["reason"][i] = reason


def first_line(err: BaseException, limit: int = 200) -> str:
    """An exception's first message line, for a failed row's reason."""
    return (str(err).strip().splitlines() or [""])[0][:limit]


def writable(batch: Batch) -> Batch:
    """Make status/reason columns writable object arrays (Ray may hand out read-only views)."""
    for col in ("status", "reason"):
        batch[col] = obj_array(batch[col])
    return batch


def get_scores(batch: Batch, i: int) -> dict[str, float]:
    """The scores mapping of row ``i``."""
    raw = batch["scores"][i] if "scores" in batch else ""
    return json.loads(raw) if raw else {}


def set_scores(batch: Batch, i: int, scores: dict[str, float]) -> None:
    """Merge ``scores`` into row ``i``'s mapping (in place; adds the column if missing)."""
    if "scores" not in batch:
        batch["scores"] = obj_array([""] * num_rows(batch))
    merged = get_scores(batch, i) | {k: float(v) for k, v in scores.items()}
    batch["scores"][i] = json.dumps(merged, sort_keys=True)
