"""Read stage: one input shard in, its samples out in chunks, then one end-of-shard row."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from rayedit.config import InputSpec
from rayedit.rows import EOS, Batch, obj_array
from rayedit.storage.fs import redact
from rayedit.storage.readers import read_shard
from rayedit.storage.shards import Shard

_COLUMNS = ("key", "source_key", "index", "image", "caption", "status", "reason")


class ReadShards:
    """Turns a batch of shard descriptions into batches of raw samples (a generator: memory stays bounded)."""

    def __init__(self, spec: InputSpec, chunk_size: int = 64):
        self.spec = spec
        self.chunk_size = chunk_size

    def _emit(self, shard: Shard, rows: list[dict], shard_rows: int = -1) -> Batch:
        batch: Batch = {c: obj_array([r[c] for r in rows]) for c in _COLUMNS}
        batch["index"] = np.asarray([r["index"] for r in rows], dtype=np.int64)
        batch["shard_id"] = obj_array([shard.shard_id] * len(rows))
        batch["source"] = obj_array([redact(shard.url)] * len(rows))
        batch["shard_rows"] = np.full(len(rows), shard_rows, dtype=np.int64)
        return batch

    def __call__(self, batch: Batch) -> Iterator[Batch]:
        for i in range(len(batch["shard_id"])):
            shard = Shard(
                shard_id=str(batch["shard_id"][i]),
                kind=str(batch["kind"][i]),
                url=str(batch["url"][i]),
                files=[str(f) for f in batch["files"][i]] if batch["files"][i] is not None else [],
            )
            rows: list[dict] = []
            n = 0
            for sample in read_shard(shard, self.spec):
                rows.append(sample)
                n += 1
                if len(rows) >= self.chunk_size:
                    yield self._emit(shard, rows)
                    rows = []
            eos = {"key": "", "source_key": "", "index": -1, "image": b"", "caption": "", "status": EOS, "reason": ""}
            yield self._emit(shard, [*rows, eos], shard_rows=-1) | {
                "shard_rows": np.asarray([-1] * len(rows) + [n], dtype=np.int64)
            }
