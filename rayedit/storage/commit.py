"""Committing an output shard atomically, and the manifest built from committed shards.

Layout under the output URL::

    shards/<shard_id>.tar          edited samples, in input order (image, .json metadata, .txt caption; with
                                   output.paired also KEY.source.EXT, the source image)
    _manifest/<shard_id>.parquet   one row per input sample of that shard
    _embeddings/<shard_id>.parquet kept samples' CLIP embeddings (with a dedup filter; read by the cross-shard pass)
    _done/<shard_id>.json          the commit marker, written last; a rerun skips shards that have it
    manifest.parquet               all committed shards' manifest rows, rewritten at the end of each run
    _staging/<shard_id>/part-*.parquet  what the write stage produced for a shard, merged by its commit
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rayedit.config import OutputSpec
from rayedit.dedup import near_duplicates
from rayedit.rows import EDITED, FILTERED
from rayedit.storage.fs import filesystem, join, put_atomic, write_atomic

STAGING = "_staging"
"""Folder of the write stage's parts (per shard), merged into the shard's tar and manifest by :func:`commit_shard`."""
SCORES_TYPE = pa.map_(pa.string(), pa.float64())
MANIFEST_SCHEMA = pa.schema([
    ("key", pa.string()), ("source", pa.string()), ("shard_id", pa.string()), ("index", pa.int64()),
    ("status", pa.string()), ("reason", pa.string()), ("scores", SCORES_TYPE), ("output_shard", pa.string()),
    ("caption", pa.string()), ("seed", pa.int64()), ("source_key", pa.string()),
    ("source_size", pa.list_(pa.int64())), ("box", pa.list_(pa.int64())),
])
"""``caption``: the source caption (a generated sample's prompt); ``seed``: a generated sample's seed (else null);
``source_key``: the sample's name as read (a folder input's file path); ``source_size``: width, height of the decoded
source image; ``box``: left, top, right, bottom of the part of it that was edited (null for generated samples and
samples that failed before decoding)."""


def marker_path(output: OutputSpec, shard_id: str) -> str:
    """Where the commit marker of a shard lives."""
    return join(output.url, "_done", f"{shard_id}.json")


def committed_shards(output: OutputSpec) -> set[str]:
    """Shard ids that have a commit marker (listed fresh, and the listing not kept: remote commit tasks add
    markers this process would otherwise believe missing)."""
    fs = filesystem(output.url, output.storage)
    done = join(output.url, "_done")
    fs.invalidate_cache(done)
    try:
        names = fs.ls(done, detail=False) if fs.exists(done) else []
    finally:
        fs.invalidate_cache(done)
    return {p.rsplit("/", 1)[-1][: -len(".json")] for p in names if p.endswith(".json")}


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644  # mtime 0: same input, same bytes
    tar.addfile(info, io.BytesIO(data))


def drop_near_duplicates(rows: list[dict], threshold: float) -> int:
    """Mark kept rows whose embedding duplicates an earlier kept row's as filtered, naming that row (in place).
    Returns how many were dropped."""
    live = [r for r in rows if r["status"] == EDITED and r.get("embedding")]
    if not live:
        return 0
    dups = near_duplicates(np.stack([np.frombuffer(r["embedding"], dtype=np.float16) for r in live]), threshold)
    for j, (i, cos) in dups.items():
        live[j]["status"], live[j]["reason"] = FILTERED, f"near duplicate of {live[i]['key']} (cosine {cos:.3f})"
    return len(dups)


def embeddings_path(output: OutputSpec, shard_id: str) -> str:
    """Where a committed shard's kept samples' embeddings live (for the cross-shard duplicate pass)."""
    return join(output.url, "_embeddings", f"{shard_id}.parquet")


def write_embeddings(fs, output: OutputSpec, shard_id: str, rows: list[dict]) -> None:
    """The kept rows' (index, key, embedding) of a shard, before its marker is written."""
    kept = [r for r in rows if r["status"] == EDITED and r.get("embedding")]
    table = pa.table({"index": pa.array([r["index"] for r in kept], type=pa.int64()),
                      "key": pa.array([r["key"] for r in kept], type=pa.string()),
                      "embedding": pa.array([r["embedding"] for r in kept], type=pa.binary())})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    write_atomic(fs, embeddings_path(output, shard_id), buf.getvalue())


def refilter_shard(output: OutputSpec, shard_id: str, drops: dict[str, str]) -> int:
    """Mark samples of a committed shard filtered (``drops``: key -> reason): its tar is rewritten without them,
    then its manifest part and marker. Idempotent; returns how many samples changed status."""
    fs = filesystem(output.url, output.storage)
    part = join(output.url, "_manifest", f"{shard_id}.parquet")
    rows = pq.read_table(io.BytesIO(fs.cat_file(part))).to_pylist()
    hit = [r for r in rows if r["key"] in drops and r["status"] == EDITED]
    if not hit:
        return 0
    tar_path = join(output.url, "shards", f"{shard_id}.tar")
    with tempfile.NamedTemporaryFile(suffix=".tar") as local:
        with fs.open(tar_path, "rb") as raw, tarfile.open(fileobj=raw, mode="r|") as old, \
                tarfile.open(fileobj=local, mode="w", format=tarfile.USTAR_FORMAT) as new:
            for member in old:
                if member.name.split(".", 1)[0] not in drops:
                    new.addfile(member, old.extractfile(member))
        local.flush()
        put_atomic(fs, local.name, tar_path)
    for r in hit:
        r["status"], r["reason"], r["output_shard"] = FILTERED, drops[r["key"]], None
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA), buf)
    write_atomic(fs, part, buf.getvalue())
    marker = json.loads(fs.cat_file(marker_path(output, shard_id)))
    marker.update({s: sum(1 for r in rows if r["status"] == s) for s in ("edited", "filtered", "failed")})
    write_atomic(fs, marker_path(output, shard_id), json.dumps(marker).encode())
    return len(hit)


def _size(values: list[int] | None) -> list[int] | None:
    """A recorded size or box; all zeros (a sample that was never decoded) is null."""
    return list(values) if values and any(values) else None


def _seed(extra: str | None) -> int | None:
    return json.loads(extra).get("seed") if extra else None


def commit_shard(output: OutputSpec, shard_id: str, parts: list[str], image_ext: str,
                 dedup_threshold: float | None = None) -> dict:
    """Merge a shard's staging parts into its tar and manifest part (dropping near duplicates first if
    ``dedup_threshold`` is set), then write its marker. Idempotent."""
    fs = filesystem(output.url, output.storage)
    table = pa.concat_tables([pq.read_table(io.BytesIO(fs.cat_file(p))) for p in sorted(set(parts))],
                             promote_options="default")
    table = table.sort_by("index")
    rows = table.to_pylist()
    keys = [r["key"] for r in rows]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})[:5]
        raise ValueError(f"shard {shard_id}: duplicate sample keys {dup}")
    if dedup_threshold is not None:
        drop_near_duplicates(rows, dedup_threshold)
        write_embeddings(fs, output, shard_id, rows)
    tar_name = f"{shard_id}.tar"
    with tempfile.NamedTemporaryFile(suffix=".tar") as local:
        with tarfile.open(fileobj=local, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for r in rows:
                if r["status"] != EDITED:
                    continue
                meta = json.loads(r["meta"])
                _add(tar, f"{r['key']}.{r.get('image_ext') or image_ext}", r["image"])
                if r.get("source_image"):
                    _add(tar, f"{r['key']}.source.{r.get('image_ext') or image_ext}", r["source_image"])
                _add(tar, f"{r['key']}.json", r["meta"])
                _add(tar, f"{r['key']}.txt", (meta.get("target_caption") or r["caption"]).encode())
        local.flush()
        put_atomic(fs, local.name, join(output.url, "shards", tar_name))
    manifest = pa.table({
        "key": [r["key"] for r in rows],
        "source": [r["source"] for r in rows],
        "shard_id": [shard_id] * len(rows),
        "index": [r["index"] for r in rows],
        "status": [r["status"] for r in rows],
        "reason": [r["reason"] for r in rows],
        "scores": pa.array([list(json.loads(r["scores"]).items()) for r in rows], type=SCORES_TYPE),
        "output_shard": [f"shards/{tar_name}" if r["status"] == EDITED else None for r in rows],
        "caption": [r.get("caption") for r in rows],
        "seed": [_seed(r.get("extra")) for r in rows],
        "source_key": [r.get("source_key") or r["key"] for r in rows],
        "source_size": [_size(r.get("source_size")) for r in rows],
        "box": [_size(r.get("box")) for r in rows],
    }, schema=MANIFEST_SCHEMA)
    buf = io.BytesIO()
    pq.write_table(manifest, buf)
    write_atomic(fs, join(output.url, "_manifest", f"{shard_id}.parquet"), buf.getvalue())
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in ("edited", "filtered", "failed")}
    summary = {"shard_id": shard_id, "samples": len(rows), **counts, "tar": f"shards/{tar_name}"}
    write_atomic(fs, marker_path(output, shard_id), json.dumps(summary).encode())
    try:
        fs.rm(join(output.url, STAGING, shard_id), recursive=True)
    except FileNotFoundError:
        pass
    return summary


def read_many(fs, paths: list[str]) -> list[bytes]:
    """The bytes of many small files, fetched concurrently where the filesystem can (s3fs, gcsfs: one batch of
    async requests instead of one round trip after another), in the order given."""
    if not paths:
        return []
    for parent in {p.rsplit("/", 1)[0] for p in paths}:  # s3fs answers "not found" from a cached listing of the
        fs.invalidate_cache(parent)                     # parent, without asking, for files written since
    found = fs.cat(paths, on_error="raise")
    if not isinstance(found, dict):  # a single path comes back as its bytes
        return [found]
    stripped = {fs._strip_protocol(k): v for k, v in found.items()}
    return [found[p] if p in found else stripped[fs._strip_protocol(p)] for p in paths]


def write_manifest(output: OutputSpec, shard_ids: list[str]) -> pa.Table:
    """Concatenate the committed shards' manifest parts into ``manifest.parquet`` (atomically; the parts are
    fetched concurrently)."""
    fs = filesystem(output.url, output.storage)
    parts = read_many(fs, [join(output.url, "_manifest", f"{s}.parquet") for s in sorted(shard_ids)])
    tables = [pq.read_table(io.BytesIO(b)) for b in parts]
    table = pa.concat_tables(tables, promote_options="default") if tables else MANIFEST_SCHEMA.empty_table()
    buf = io.BytesIO()
    pq.write_table(table, buf)
    write_atomic(fs, join(output.url, "manifest.parquet"), buf.getvalue())
    return table
