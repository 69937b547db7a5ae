"""The images of chosen samples: the result from the output shard, the source from the pair or the input shard."""

from __future__ import annotations

import json
import tarfile
from collections import defaultdict

import numpy as np

from rayedit.config import OutputSpec, StorageSpec
from rayedit.imaging import ImageError, decode_image
from rayedit.storage.fs import filesystem, join
from rayedit.storage.readers import unsafe_member_reason
from rayedit.storage.shards import IMAGE_EXTENSIONS


def _tar_images(url: str, storage: StorageSpec | None, keys: set[str]) -> dict[str, dict]:
    """{key: {extension: pixels, 'json': metadata}} of the members of ``keys`` in one tar (streamed once)."""
    found: dict[str, dict] = defaultdict(dict)
    fs = filesystem(url, storage)
    with fs.open(url, "rb") as raw, tarfile.open(fileobj=raw, mode="r|*") as tar:
        for member in tar:
            if not member.isfile() or unsafe_member_reason(member):
                continue
            head, slash, name = member.name.rpartition("/")  # WebDataset's rule: the key ends at the name's first dot
            stem, _, ext = name.partition(".")
            key = head + slash + stem
            if key in keys and ext == "json":
                try:
                    found[key]["json"] = json.loads(tar.extractfile(member).read())
                except ValueError:
                    pass
            elif key in keys and ext.rsplit(".", 1)[-1].lower() in IMAGE_EXTENSIONS:
                try:
                    found[key][ext] = np.asarray(decode_image(tar.extractfile(member).read()))
                except ImageError:
                    continue
    return found


def _file_image(url: str, storage: StorageSpec | None) -> np.ndarray | None:
    """One image file of a folder input (None if it is gone or unreadable: the report shows the result only)."""
    try:
        return np.asarray(decode_image(filesystem(url, storage).cat_file(url)))
    except (OSError, ImageError):
        return None


def _plain(images: dict) -> np.ndarray | None:
    return next((v for k, v in images.items() if k.lower() in IMAGE_EXTENSIONS), None)


def sample_images(output: OutputSpec, samples: list[dict],
                  input_storage: StorageSpec | None = None) -> dict[tuple[str, str], tuple]:
    """{(shard_id, key): (source or None, result or None, metadata)} for kept manifest rows. The source comes
    from the paired output (``KEY.source.*``), else from the input: the tar member or the folder's file named by the
    sample's ``source_key``; None when it cannot be read."""
    by_output: dict[str, set[str]] = defaultdict(set)
    for r in samples:
        by_output[r["output_shard"]].add(r["key"])
    out: dict[tuple[str, str], tuple] = {}
    need_source: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
    for shard, keys in by_output.items():
        found = _tar_images(join(output.url, shard), output.storage, keys)
        for r in (r for r in samples if r["output_shard"] == shard):
            images = found.get(r["key"], {})
            source = next((v for k, v in images.items() if k.startswith("source.")), None)
            out[(r["shard_id"], r["key"])] = (source, _plain(images), images.get("json", {}))
            meta = images.get("json", {})
            if source is None and r["source"].lower().endswith(".tar"):
                need_source[r["source"]][meta.get("source_key") or r["key"]] = (r["shard_id"], r["key"])
            elif source is None and r["source"].endswith("/") and meta.get("source_key"):  # an image folder
                source = _file_image(join(r["source"], meta["source_key"]), input_storage)
                out[(r["shard_id"], r["key"])] = (source, *out[(r["shard_id"], r["key"])][1:])
    for url, wanted in need_source.items():
        try:
            found = _tar_images(url, input_storage, set(wanted))
        except (OSError, tarfile.TarError):
            continue  # input gone or unreadable: the report shows results only
        for key, where in wanted.items():
            if key in found:
                out[where] = (_plain(found[key]), *out[where][1:])
    return out
