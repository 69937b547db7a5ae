"""Committing an output shard atomically, and the manifest built from committed shards.

Layout under the output URL::

    shards/<shard_id>.tar          edited samples, in input order (image, .json metadata, .txt caption)
    _manifest/<shard_id>.parquet   one row per input sample of that shard
    _done/<shard_id>.json          the commit marker, written last; a rerun skips shards that have it
    manifest.parquet               all committed shards' manifest rows, rewritten at the end of each run
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile

import pyarrow as pa
import pyarrow.parquet as pq

from rayedit.config import OutputSpec
from rayedit.stages.batch import EDITED
from rayedit.stages.write import STAGING
from rayedit.storage.fs import filesystem, join, put_atomic, write_atomic

SCORES_TYPE = pa.map_(pa.string(), pa.float64())
MANIFEST_SCHEMA = pa.schema([
    ("key", pa.string()), ("source", pa.string()), ("shard_id", pa.string()), ("index", pa.int64()),
    ("status", pa.string()), ("reason", pa.string()), ("scores", SCORES_TYPE), ("output_shard", pa.string()),
])


def marker_path(output: OutputSpec, shard_id: str) -> str:
    """Where the commit marker of a shard lives."""
    return join(output.url, "_done", f"{shard_id}.json")


def committed_shards(output: OutputSpec) -> set[str]:
    """Shard ids that have a commit marker."""
    fs = filesystem(output.url, output.storage)
    fs.invalidate_cache()
    done = join(output.url, "_done")
    if not fs.exists(done):
        return set()
    return {p.rsplit("/", 1)[-1][: -len(".json")] for p in fs.ls(done, detail=False) if p.endswith(".json")}


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644  # mtime 0: same input, same bytes
    tar.addfile(info, io.BytesIO(data))


def commit_shard(output: OutputSpec, shard_id: str, parts: list[str], image_ext: str) -> dict:
    """Merge a shard's staging parts into its tar and manifest part, then write its marker. Idempotent."""
    fs = filesystem(output.url, output.storage)
    table = pa.concat_tables([pq.read_table(io.BytesIO(fs.cat_file(p))) for p in sorted(set(parts))])
    table = table.sort_by("index")
    rows = table.to_pylist()
    keys = [r["key"] for r in rows]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})[:5]
        raise ValueError(f"shard {shard_id}: duplicate sample keys {dup}")
    tar_name = f"{shard_id}.tar"
    with tempfile.NamedTemporaryFile(suffix=".tar") as local:
        with tarfile.open(fileobj=local, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for r in rows:
                if r["status"] != EDITED:
                    continue
                meta = json.loads(r["meta"])
                _add(tar, f"{r['key']}.{image_ext}", r["image"])
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


def write_manifest(output: OutputSpec, shard_ids: list[str]) -> pa.Table:
    """Concatenate the committed shards' manifest parts into ``manifest.parquet`` (atomically)."""
    fs = filesystem(output.url, output.storage)
    tables = [pq.read_table(io.BytesIO(fs.cat_file(join(output.url, "_manifest", f"{s}.parquet"))))
              for s in sorted(shard_ids)]
    table = pa.concat_tables(tables) if tables else MANIFEST_SCHEMA.empty_table()
    buf = io.BytesIO()
    pq.write_table(table, buf)
    write_atomic(fs, join(output.url, "manifest.parquet"), buf.getvalue())
    return table
