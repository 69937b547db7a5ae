"""Write stage: each batch's rows, grouped by input shard, go to a staging part; the shard is committed later.

A part holds every row (edited, filtered, failed) with the encoded image and metadata of edited rows, so the
commit can build both the output tar and the manifest rows without the driver touching image bytes.
"""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rayedit.config import OutputSpec
from rayedit.imaging import encode_image
from rayedit.stages.batch import EDITED, EOS, Batch, get_scores, obj_array
from rayedit.storage.fs import filesystem, join, write_atomic

STAGING = "_staging"


def part_name(shard_id: str, indices: list[int]) -> str:
    """Deterministic part file name from the shard and the sample positions it holds."""
    h = hashlib.sha1(f"{shard_id}:{','.join(map(str, indices))}".encode()).hexdigest()[:16]
    return f"part-{h}.parquet"


class WriteParts:
    """Writes staging parts; returns one small row per input row (shard, key, status, part) for the driver."""

    def __init__(self, output: OutputSpec, provenance: dict, target_caption: str | None = None):
        self.output, self.provenance, self.target_caption = output, provenance, target_caption
        self.fs = None

    def _metadata(self, batch: Batch, i: int) -> bytes:
        meta = {
            "key": str(batch["key"][i]),
            "source_key": str(batch["key"][i]),
            "source_shard": str(batch["source"][i]),
            "caption": str(batch["caption"][i]),
            "target_caption": self.target_caption,
            "scores": get_scores(batch, i),
            "provenance": self.provenance,
        }
        return json.dumps(meta, sort_keys=True).encode()

    def _write_part(self, batch: Batch, rows: np.ndarray, shard_id: str) -> str:
        images, metas = [], []
        for i in rows:
            if batch["status"][i] == EDITED:
                images.append(encode_image(batch["edited"][i], self.output.image_format, self.output.quality))
                metas.append(self._metadata(batch, i))
            else:
                images.append(b"")
                metas.append(b"")
        table = pa.table({
            "index": pa.array(batch["index"][rows].astype(np.int64)),
            "key": pa.array([str(k) for k in batch["key"][rows]]),
            "source": pa.array([str(s) for s in batch["source"][rows]]),
            "status": pa.array([str(s) for s in batch["status"][rows]]),
            "reason": pa.array([str(r) for r in batch["reason"][rows]]),
            "scores": pa.array([json.dumps(get_scores(batch, i)) for i in rows]),
            "caption": pa.array([str(c) for c in batch["caption"][rows]]),
            "image": pa.array(images, type=pa.binary()),
            "meta": pa.array(metas, type=pa.binary()),
        })
        name = part_name(shard_id, [int(x) for x in batch["index"][rows]])
        path = join(self.output.url, STAGING, shard_id, name)
        buf = io.BytesIO()
        pq.write_table(table, buf)
        write_atomic(self.fs, path, buf.getvalue())
        return path

    def __call__(self, batch: Batch) -> Batch:
        if self.fs is None:
            self.fs = filesystem(self.output.url, self.output.storage)
        status = np.asarray(batch["status"])
        shard_ids = np.asarray(batch["shard_id"])
        parts = obj_array([""] * len(status))
        for sid in sorted(set(shard_ids[status != EOS].tolist())):
            rows = np.flatnonzero((shard_ids == sid) & (status != EOS))
            path = self._write_part(batch, rows, str(sid))
            for i in rows:
                parts[i] = path
        return {
            "shard_id": obj_array(batch["shard_id"]),
            "key": obj_array(batch["key"]),
            "status": obj_array(batch["status"]),
            "shard_rows": np.asarray(batch["shard_rows"], dtype=np.int64),
            "part": parts,
        }
