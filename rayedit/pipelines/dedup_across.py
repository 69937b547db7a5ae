"""Near duplicates across output shards, after every shard is committed (within-shard ones were dropped at commit).

No machine gathers all embeddings, and the embeddings themselves are not shuffled for every sample:

1. one task per shard reads its kept embeddings and emits one small record per LSH band: (bucket id, sample id,
   a 256-bit SimHash sketch of the embedding) - ~70 bytes instead of the embedding's 2d + ~50;
2. Ray Data's groupby shuffles the records by bucket; in each bucket, the pairs whose sketches are close enough
   that their cosine may reach the threshold (:func:`rayedit.dedup.sketch_radius`) become candidates;
3. the candidates' embeddings - and only theirs - are shuffled together by pair (one task per shard emits the
   sides it holds) and each pair is checked exactly. Where the candidates are so many (dense clusters of
   near-alike images) that this would move more than shuffling every embedding once per band, that is done
   instead and each bucket's pairs are checked exactly (``method: bands``).

Only the pairs at or above the threshold come back to the driver, which keeps the first sample of every group
(shard order, then sample order) and rewrites the affected shards. Shuffled: n x bands x ~70 bytes, then
min(2 x candidates, n x bands) x (2d + 50) bytes; the candidates are the near duplicates and pairs a little below
the threshold - few in a diverse photo set.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import defaultdict

import numpy as np
import pyarrow.parquet as pq

from rayedit.config import OutputSpec
from rayedit.dedup import (
    close_sketch_pairs,
    keep_first,
    lsh_buckets,
    lsh_shape,
    pairs_in_bucket,
    simhash,
    sketch_radius,
    unit_rows,
)
from rayedit.rows import obj_array
from rayedit.storage.commit import embeddings_path, marker_path, read_many, refilter_shard
from rayedit.storage.fs import filesystem, join, write_atomic

DONE_FILE = "_dedup_across.json"
SEP = "\x00"
"""Sample ids are 'shard_id<SEP>index (12 digits)': they sort in shard order, then sample order."""
PAIR_SEP = "\x01"
"""A candidate pair's key: 'id_a<PAIR_SEP>id_b'."""


def _sample_id(shard_id: str, index: int) -> str:
    return f"{shard_id}{SEP}{index:012d}"


def _shard_embeddings(output: OutputSpec, shard_id: str) -> list[dict]:
    fs = filesystem(output.url, output.storage)
    return pq.read_table(io.BytesIO(fs.cat_file(embeddings_path(output, shard_id)))).to_pylist()


def _banded(output: OutputSpec, shard_id: str, bands: int, bits: int, seed: int):
    """A shard's kept rows, their embeddings (float32) and LSH buckets (n, bands); None for a shard with none."""
    table = _shard_embeddings(output, shard_id)
    if not table:
        return None
    emb = np.stack([np.frombuffer(r["embedding"], dtype=np.float16) for r in table]).astype(np.float32)
    return table, emb, lsh_buckets(emb, bands, bits, seed)


def band_records(output: OutputSpec, bands: int, bits: int, seed: int):
    """A function: one shard's kept embeddings -> one record per (sample, band): bucket, sample id, sketch."""

    def records(row: dict) -> list[dict]:
        found = _banded(output, row["shard_id"], bands, bits, seed)
        if found is None:
            return []
        table, emb, buckets = found
        sketches = simhash(emb, seed=seed)
        return [{"bucket": int(buckets[k, b]), "id": _sample_id(row["shard_id"], r["index"]),
                 "sketch": sketches[k].tobytes()} for k, r in enumerate(table) for b in range(bands)]

    return records


def band_embeddings(output: OutputSpec, bands: int, bits: int, seed: int):
    """A function: one shard's kept embeddings -> one record per (sample, band) with the embedding itself."""

    def records(row: dict) -> list[dict]:
        found = _banded(output, row["shard_id"], bands, bits, seed)
        if found is None:
            return []
        table, _, buckets = found
        return [{"bucket": int(buckets[k, b]), "id": _sample_id(row["shard_id"], r["index"]), "key": r["key"],
                 "embedding": r["embedding"]} for k, r in enumerate(table) for b in range(bands)]

    return records


def bucket_pairs(threshold: float):
    """A function: one bucket's records (with embeddings) -> its pairs at or above ``threshold``."""

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


def exact_check_method(candidates: int, samples: int, bands: int) -> str:
    """``pairs`` (shuffle the candidates' two embeddings each) unless that moves more embeddings than shuffling
    every sample's once per band (``bands``)."""
    return "pairs" if 2 * candidates <= samples * bands else "bands"


def bucket_candidates(radius: int):
    """A function: one bucket's records -> its candidate pairs (sketches at most ``radius`` bits apart)."""

    def candidates(group: dict) -> dict:
        ids = [str(i) for i in group["id"]]
        pairs = []
        if len(ids) > 1:
            sketches = np.stack([np.frombuffer(bytes(k), dtype=np.uint8) for k in group["sketch"]])
            pairs = close_sketch_pairs(ids, sketches, radius)
        return {"pair": obj_array([f"{a}{PAIR_SEP}{b}" for a, b in pairs])}

    return candidates


def pair_sides(output: OutputSpec):
    """A function: a shard and the candidate pairs its samples are in -> one record per (pair, sample held)."""

    def sides(row: dict) -> list[dict]:
        wanted = json.loads(row["wanted"])  # sample index -> pair keys
        out = []
        for r in _shard_embeddings(output, row["shard_id"]):
            for pair in wanted.get(str(r["index"]), ()):
                out.append({"pair": pair, "id": _sample_id(row["shard_id"], r["index"]), "key": r["key"],
                            "embedding": r["embedding"]})
        return out

    return sides


def confirmed(threshold: float):
    """A function: one candidate pair's two sides -> the pair (ids, keys, cosine) if the cosine reaches
    ``threshold``, else nothing."""

    def check(group: dict) -> dict:
        empty = {"a": obj_array([]), "b": obj_array([]), "a_key": obj_array([]), "b_key": obj_array([]),
                 "cos": np.zeros(0)}
        if len(group["id"]) != 2:
            return empty
        emb = unit_rows(np.stack([np.frombuffer(bytes(e), dtype=np.float16) for e in group["embedding"]]))
        cos = float(emb[0] @ emb[1])
        if cos < threshold:
            return empty
        (a, ka), (b, kb) = sorted(zip((str(i) for i in group["id"]), (str(k) for k in group["key"]), strict=True))
        return {"a": obj_array([a]), "b": obj_array([b]), "a_key": obj_array([ka]), "b_key": obj_array([kb]),
                "cos": np.array([cos])}

    return check


def cross_shard_duplicates(output: OutputSpec, shard_ids: list[str], threshold: float, seed: int = 0,
                           stats: dict | None = None, method: str | None = None) -> dict[str, dict[str, str]]:
    """{shard_id: {key: reason}} for the samples that duplicate a kept sample of an earlier shard. ``stats``, if
    given, receives the LSH bands, the candidate pairs, the exact check's method and the pairs confirmed;
    ``method`` (``pairs`` / ``bands``) overrides :func:`exact_check_method`'s choice (tests compare the two)."""
    from rayedit.cluster.executor import shuffle_groups

    fs = filesystem(output.url, output.storage)
    n = sum(json.loads(b)["edited"] for b in read_many(fs, [marker_path(output, s) for s in shard_ids]))
    bands, bits = lsh_shape(n, threshold)
    pairs = {row["pair"] for row in shuffle_groups([{"shard_id": s} for s in shard_ids],
                                                    band_records(output, bands, bits, seed), "bucket",
                                                    bucket_candidates(sketch_radius(threshold)))}
    best: dict[tuple[str, str], float] = {}
    key_of: dict[str, str] = {}
    method = method or exact_check_method(len(pairs), n, bands)
    if method == "bands":
        found = shuffle_groups([{"shard_id": s} for s in shard_ids], band_embeddings(output, bands, bits, seed),
                               "bucket", bucket_pairs(threshold))
    else:
        wanted: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for pair in pairs:  # the same pair may meet in several bands: checked once
            for sample in pair.split(PAIR_SEP):
                shard, index = sample.split(SEP)
                wanted[shard][str(int(index))].append(pair)
        items = [{"shard_id": s, "wanted": json.dumps(w)} for s, w in sorted(wanted.items())]
        found = shuffle_groups(items, pair_sides(output), "pair", confirmed(threshold)) if items else []
    for p in found:
        best[(p["a"], p["b"])] = float(p["cos"])
        key_of[p["a"]], key_of[p["b"]] = p["a_key"], p["b_key"]
    if stats is not None:
        stats.update(bands=bands, candidates=len(pairs), method=method, confirmed=len(best))
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
                        start_ray=None) -> dict:
    """Run the cross-shard pass once per set of committed shards (recorded in ``_dedup_across.json``); returns
    how many samples it filtered (``filtered``) and, when it ran, ``bands``, ``candidates`` and ``confirmed``
    pairs. ``start_ray`` is called first if the pass has to run."""
    fs = filesystem(output.url, output.storage)
    done = join(output.url, DONE_FILE)
    stamp = hashlib.sha256(json.dumps([sorted(shard_ids), threshold, seed]).encode()).hexdigest()
    previous = json.loads(fs.cat_file(done)) if fs.exists(done) else {}
    if previous.get("stamp") == stamp:
        return {"filtered": previous["filtered"]}
    if start_ray is not None:
        start_ray()
    stats: dict = {}
    drops = cross_shard_duplicates(output, shard_ids, threshold, seed, stats)
    filtered = sum(refilter_shard(output, s, d) for s, d in sorted(drops.items()))
    write_atomic(fs, done, json.dumps({"stamp": stamp, "filtered": filtered}).encode())
    return {"filtered": filtered, **stats}
