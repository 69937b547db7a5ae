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
from rayedit.editors.captions import target_captions
from rayedit.imaging import encode_image, fit_box
from rayedit.rows import EDITED, EOS, Batch, get_scores, obj_array
from rayedit.storage.commit import STAGING
from rayedit.storage.fs import filesystem, join, write_atomic


def part_name(shard_id: str, indices: list[int]) -> str:
    """Deterministic part file name from the shard and the sample positions it holds."""
    h = hashlib.sha1(f"{shard_id}:{','.join(map(str, indices))}".encode()).hexdigest()[:16]
    return f"part-{h}.parquet"


class WriteParts:
    """Writes staging parts; returns one small row per input row (shard, key, status, part) for the driver.

    Each kept sample's metadata holds its caption, its target caption (``target_caption`` for all, or its caption
    with ``replace`` applied), scores, provenance and the row's ``extra`` fields (e.g. a generated sample's seed).
    With ``output.paired`` the source image is encoded too; an ``embedding`` column (near-duplicate filter) is
    carried into the part for the commit."""

    def __init__(self, output: OutputSpec, provenance: dict, target_caption: str | None = None,
                 replace: dict[str, str] | None = None, resize: str = "center_crop", pass_through: bool = False):
        self.output, self.provenance, self.resize = output, provenance, resize
        self.pass_through = pass_through
        """Write each kept sample's input bytes as they are (score-only jobs), in their own format."""
        self.target_caption, self.replace = target_caption, replace
        self.fs = None

    def _metadata(self, batch: Batch, i: int) -> bytes:
        caption = str(batch["caption"][i])
        target = None
        if self.target_caption is not None or self.replace is not None:
            target = target_captions([caption], self.target_caption, self.replace)[0]
        extra = str(batch["extra"][i]) if "extra" in batch else ""
        meta = {
            "key": str(batch["key"][i]),
            "source_key": str(batch["source_key"][i] if "source_key" in batch else batch["key"][i]),
            "source_shard": str(batch["source"][i]),
            "caption": caption,
            "target_caption": target,
            "scores": get_scores(batch, i),
            "provenance": self.provenance,
            **self._geometry(batch, i),
            **(json.loads(extra) if extra else {}),
        }
        return json.dumps(meta, sort_keys=True).encode()

    def _image(self, batch: Batch, i: int, encode: bool = True) -> tuple[bytes, str]:
        """(bytes, extension) of a kept sample's written image: the input file unchanged for a score-only job whose
        format is known, else the edit encoded in the format ``output.image_format`` gives it."""
        ext = self._source_ext(batch, i)
        if ext and self.pass_through:
            return bytes(batch["image"][i]), ext
        fmt = self.output.format_for(ext)
        return (self._encode(batch["edited"][i], batch, i, fmt) if encode else b""), fmt

    @staticmethod
    def _source_ext(batch: Batch, i: int) -> str:
        """The input image's format as an extension, '' if unknown (generated images, tensor inputs)."""
        return str(batch["source_ext"][i]) if "source_ext" in batch else ""

    def _geometry(self, batch: Batch, i: int) -> dict:
        """Where the sample came from in its source image: its size and the box used (decoded inputs only)."""
        if "source_size" not in batch:
            return {}
        return {"source_size": [int(v) for v in batch["source_size"][i]], "box": [int(v) for v in batch["box"][i]],
                "resize": self.resize}

    def _encode(self, pixels: np.ndarray, batch: Batch | None, i: int, fmt: str) -> bytes:
        """The image as written in ``fmt``; with ``fit``, cropped back to the source's own aspect ratio."""
        if self.resize == "fit" and batch is not None and "source_size" in batch:
            left, top, right, bottom = fit_box(*(int(v) for v in batch["source_size"][i]), pixels.shape[0])
            pixels = pixels[top:bottom, left:right]
        return encode_image(pixels, fmt, self.output.quality, self.output.png_compression)

    def _write_part(self, batch: Batch, rows: np.ndarray, shard_id: str) -> str:
        kept = [batch["status"][i] == EDITED for i in rows]
        paired = self.output.paired and "pixels" in batch

        def per_kept(fn) -> pa.Array:
            return pa.array([fn(i) if k else b"" for i, k in zip(rows, kept, strict=True)], type=pa.binary())

        extra = batch.get("extra")
        columns = {
            "index": pa.array(batch["index"][rows].astype(np.int64)),
            "key": pa.array([str(k) for k in batch["key"][rows]]),
            "source": pa.array([str(s) for s in batch["source"][rows]]),
            "status": pa.array([str(s) for s in batch["status"][rows]]),
            "reason": pa.array([str(r) for r in batch["reason"][rows]]),
            "scores": pa.array([json.dumps(get_scores(batch, i)) for i in rows]),
            "caption": pa.array([str(c) for c in batch["caption"][rows]]),
            "extra": pa.array(["" if extra is None else str(extra[i]) for i in rows]),
            "image": per_kept(lambda i: self._image(batch, i)[0]),
            "image_ext": pa.array([self._image(batch, i, encode=False)[1] for i in rows]),
            "meta": per_kept(lambda i: self._metadata(batch, i)),
            "source_image": per_kept(lambda i: self._encode(batch["pixels"][i], batch, i,
                                                         self.output.format_for(self._source_ext(batch, i)))
                                    if paired else b""),
            "source_key": pa.array([str(batch["source_key"][i]) if "source_key" in batch else str(batch["key"][i])
                                    for i in rows]),
            "source_size": pa.array([[int(v) for v in batch["source_size"][i]] if "source_size" in batch else None
                                     for i in rows], type=pa.list_(pa.int64())),
            "box": pa.array([[int(v) for v in batch["box"][i]] if "box" in batch else None for i in rows],
                            type=pa.list_(pa.int64())),
            "embedding": per_kept(lambda i: bytes(batch["embedding"][i]) if "embedding" in batch else b""),
        }
        name = part_name(shard_id, [int(x) for x in batch["index"][rows]])
        path = join(self.output.url, STAGING, shard_id, name)
        buf = io.BytesIO()
        pq.write_table(pa.table(columns), buf)
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
