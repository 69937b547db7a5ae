"""Near duplicates across output shards, after every shard is committed (within-shard ones were dropped at commit).

No machine gathers all embeddings: one task per shard reads that shard's kept embeddings and emits one record per
LSH band (bucket id, sample id, embedding); Ray Data's groupby shuffles the records by bucket across the cluster,
and each bucket's pairs are compared exactly. Only the pairs at or above the threshold come back to the driver,
which keeps the first sample of every group (shard order, then sample order) and rewrites the affected shards.
Cost: about n x bands records of (2d + 40) bytes in the shuffle, and sum over buckets of size^2 cosines.
"""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pyarrow.parquet as pq

from rayedit.config import OutputSpec
from rayedit.dedup import keep_first, lsh_buckets, lsh_shape, pairs_in_bucket
from rayedit.rows import obj_array
from rayedit.storage.commit import embeddings_path, marker_path, read_many, refilter_shard
from rayedit.storage.fs import filesystem, join, write_atomic

DONE_FILE = "_dedup_across.json"
SEP = "\x00"
"""Sample ids are 'shard_id<SEP>index (12 digits)': they sort in shard order, then sample order."""


def _sample_id(shard_id: str, index: int) -> str:
    return f"{shard_id}{SEP}{index:012d}"


def band_records(output: OutputSpec, bands: int, bits: int, seed: int):
    """A function: one shard's kept embeddings -> one record per (sample, band)."""

    def records(row: dict) -> list[dict]:
        fs = filesystem(output.url, output.storage)
        table = pq.read_table(io.BytesIO(fs.cat_file(embeddings_path(output, row["shard_id"])))).to_pylist()
        if not table:
            return []
        emb = np.stack([np.frombuffer(r["embedding"], dtype=np.float16) for r in table]).astype(np.float32)
        buckets = lsh_buckets(emb, bands, bits, seed)
        return [{"bucket": int(buckets[k, b]), "id": _sample_id(row["shard_id"], r["index"]), "key": r["key"],
                 "embedding": r["embedding"]} for k, r in enumerate(table) for b in range(bands)]

    return records


def bucket_pairs(threshold: float):
    """A function: one bucket's records -> its pairs at or above ``threshold`` (ids, keys, cosine)."""

    def pairs_of(group: dict) -> dict:
        ids = [str(i) for i in group["id"]]
        keys = dict(zip(ids, (str(k) for k in group["key"]), strict=True))
        pairs = []
        if len(ids) > 1:
            emb = np.stack([np.frombuffer(bytes(e), dtype=np.float16) for e in group["embedding"]])
            pairs = pairs_in_bucket(ids, emb, threshold)
        return {"a": obj_array([p[0] for p in pairs]), "b": obj_array([p[1] for p in pairs]),
                "a_key": obj_array([keys[p[0]] for p in pairs]), "b_key": obj_array([keys[p[1]] for p in pairs]),
                "cos": np.array([p[2] for p in pairs], dtype=np.float64)}

    return pairs_of


def cross_shard_duplicates(output: OutputSpec, shard_ids: list[str], threshold: float,
                           seed: int = 0) -> dict[str, dict[str, str]]:
    """{shard_id: {key: reason}} for the samples that duplicate a kept sample of an earlier shard."""
    from rayedit.cluster.executor import shuffle_groups

    fs = filesystem(output.url, output.storage)
    n = sum(json.loads(b)["edited"] for b in read_many(fs, [marker_path(output, s) for s in shard_ids]))
    bands, bits = lsh_shape(n, threshold)
    best: dict[tuple[str, str], float] = {}
    key_of: dict[str, str] = {}
    pairs = shuffle_groups([{"shard_id": s} for s in shard_ids], band_records(output, bands, bits, seed), "bucket",
                           bucket_pairs(threshold))
    for p in pairs:  # the same pair may meet in several bands
        best[(p["a"], p["b"])] = float(p["cos"])
        key_of[p["a"]], key_of[p["b"]] = p["a_key"], p["b_key"]
    order = sorted(key_of)
    rank = {sid: r for r, sid in enumerate(order)}
    candidates: dict[int, list[tuple[int, float]]] = {}
    for (a, b), cos in best.items():
        candidates.setdefault(rank[b], []).append((rank[a], cos))
    drops: dict[str, dict[str, str]] = {}
    for j, (i, cos) in keep_first(candidates).items():
        shard, kept_shard = order[j].split(SEP)[0], order[i].split(SEP)[0]
        drops.setdefault(shard, {})[key_of[order[j]]] = (f"near duplicate of {key_of[order[i]]} in shard "
                                                         f"{kept_shard} (cosine {cos:.3f})")
    return drops


def dedup_across_shards(output: OutputSpec, shard_ids: list[str], threshold: float, seed: int = 0,
                        start_ray=None) -> int:
    """Run the cross-shard pass once per set of committed shards (recorded in ``_dedup_across.json``); returns
    how many samples it filtered. ``start_ray`` is called first if the pass has to run."""
    fs = filesystem(output.url, output.storage)
    done = join(output.url, DONE_FILE)
    stamp = hashlib.sha256(json.dumps([sorted(shard_ids), threshold, seed]).encode()).hexdigest()
    previous = json.loads(fs.cat_file(done)) if fs.exists(done) else {}
    if previous.get("stamp") == stamp:
        return previous["filtered"]
    if start_ray is not None:
        start_ray()
    drops = cross_shard_duplicates(output, shard_ids, threshold, seed)
    filtered = sum(refilter_shard(output, s, d) for s, d in sorted(drops.items()))
    write_atomic(fs, done, json.dumps({"stamp": stamp, "filtered": filtered}).encode())
    return filtered
