"""Reading one input shard into raw samples, never raising for bad data.

Every sample becomes a dict ``{key, image (bytes), caption, status, reason}``; a sample that cannot be
read comes out with ``status="failed"`` and a reason, so the job can account for it. A failing STORE (network
errors, 503s after the client's retries) is not a property of the data: it raises StorageError instead.
"""

from __future__ import annotations

import json
import posixpath
import re
import tarfile
from collections.abc import Iterator

import pyarrow.parquet as pq

from rayedit.config import InputSpec
from rayedit.storage.fs import filesystem, is_storage_error, redact
from rayedit.storage.shards import IMAGE_EXTENSIONS, Shard

_KEY_EXT = re.compile(r"^((?:.*/|)[^./]+)\.([^/]*)$")  # WebDataset's key/extension split


class StorageError(OSError):
    """The store failed while reading a shard (after the client's own retries): the shard's task fails and is
    retried, and the job fails if it keeps failing - the shard is never committed with samples missing."""


def _sample(key: str, image: bytes | None = None, caption: str = "", reason: str = "") -> dict:
    return {
        "key": key,
        "image": image or b"",
        "caption": caption,
        "status": "failed" if reason else "ok",
        "reason": reason,
    }


def unsafe_member_reason(member: tarfile.TarInfo) -> str:
    """Why a tar member must not be read (absolute path, '..', link, device), or '' if it is safe."""
    name = member.name
    if name.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", name):
        return f"unsafe tar member {name!r}: absolute path"
    if ".." in re.split(r"[\\/]", name):
        return f"unsafe tar member {name!r}: path traversal"
    if member.issym() or member.islnk():
        return f"unsafe tar member {name!r}: links are not allowed"
    if not (member.isfile() or member.isdir()):
        return f"unsafe tar member {name!r}: not a regular file"
    return ""


CAPTION_FIELDS = ("caption", "text", "prompt")
"""Fields of a sample's .json read as its caption after ``input.caption_key`` (first string found wins)."""


def caption_fields(caption_key: str) -> tuple[str, ...]:
    """The .json fields tried for a caption, in order."""
    return tuple(dict.fromkeys((caption_key, *CAPTION_FIELDS)))


def _caption_from(parts: dict[str, bytes], caption_key: str) -> str:
    """A .txt member's text, else the first caption field of the .json; a .json without one is reported by
    :func:`missing_caption_fields`."""
    if "txt" in parts:
        return parts["txt"].decode("utf-8", errors="replace").strip()
    meta = _json_of(parts)
    for key in caption_fields(caption_key):
        if isinstance(meta.get(key), str):
            return meta[key].strip()
    return ""


def _json_of(parts: dict[str, bytes]) -> dict:
    try:
        meta = json.loads(parts["json"]) if "json" in parts else {}
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


def missing_caption_fields(parts: dict[str, bytes], caption_key: str) -> list[str] | None:
    """The fields of a sample's .json when it has no .txt and none of the caption fields (else None)."""
    if "txt" in parts or "json" not in parts:
        return None
    meta = _json_of(parts)
    return None if any(isinstance(meta.get(k), str) for k in caption_fields(caption_key)) else sorted(meta)


def _group_to_sample(key: str, parts: dict[str, bytes], caption_key: str) -> dict:
    """The sample's image is its plain image member (``png``, ``jpg``, ...) if it has one - a paired output's
    ``source.png`` is the source, not the sample - else the first member with an image extension."""
    plain = [ext for ext in parts if ext.lower() in IMAGE_EXTENSIONS]
    for ext in plain + list(parts):
        if ext.rsplit(".", 1)[-1].lower() in IMAGE_EXTENSIONS:
            sample = _sample(key, parts[ext], _caption_from(parts, caption_key))
            sample["json_without_caption"] = missing_caption_fields(parts, caption_key)
            return sample
    found = ", ".join(sorted(parts)) or "nothing"
    return _sample(key, reason=f"no image member in sample (found: {found})")


def read_tar(shard: Shard, spec: InputSpec) -> Iterator[dict]:
    """Samples of a WebDataset tar, grouped by key; damage ends the shard with one failure row."""
    fs = filesystem(shard.url, spec.storage)
    n = 0
    key, parts = None, {}
    try:
        with fs.open(shard.url, "rb") as raw, tarfile.open(fileobj=raw, mode="r|*") as tar:
            for member in tar:
                if member.isdir():
                    continue
                bad = unsafe_member_reason(member)
                if bad:
                    if key is not None:
                        yield _group_to_sample(key, parts, spec.caption_key)
                        n += 1
                        key, parts = None, {}
                    yield _sample(posixpath.basename(member.name) or member.name, reason=bad)
                    n += 1
                    continue
                m = _KEY_EXT.match(member.name)
                mkey, ext = (m.group(1), m.group(2)) if m else (member.name, "")
                if mkey != key and key is not None:
                    yield _group_to_sample(key, parts, spec.caption_key)
                    n += 1
                    parts = {}
                key = mkey
                fobj = tar.extractfile(member)
                parts[ext] = fobj.read() if fobj is not None else b""
            if key is not None:
                yield _group_to_sample(key, parts, spec.caption_key)
    except (tarfile.TarError, EOFError, OSError, ValueError) as err:
        if is_storage_error(err):
            raise StorageError(f"reading {redact(shard.url)}: {type(err).__name__}: {err}") from err
        where = f"after {n} samples" if n else "before any sample"
        what = "unreadable" if n == 0 and key is None else "truncated or damaged"
        fail_key = key if key is not None else f"{shard.shard_id}#{'unreadable' if n == 0 else f'damaged-{n}'}"
        yield _sample(fail_key, reason=f"tar {what} {where}: {type(err).__name__}: {err}; rest of shard lost")


def _sidecars(fs, path: str) -> dict[str, bytes]:
    stem = path.rsplit(".", 1)[0]
    parts: dict[str, bytes] = {}
    for ext in ("txt", "json"):
        try:
            if fs.exists(f"{stem}.{ext}"):
                parts[ext] = fs.cat_file(f"{stem}.{ext}")
        except OSError:
            continue
    return parts


def read_folder(shard: Shard, spec: InputSpec) -> Iterator[dict]:
    """Image files of a folder slice, each with its sidecar .txt/.json caption if present."""
    fs = filesystem(shard.url, spec.storage)
    root = shard.url.split("://", 1)[-1].rstrip("/") + "/"
    for url in shard.files:
        path = url.split("://", 1)[-1]
        key = path[len(root) :] if path.startswith(root) else posixpath.basename(path)
        key = key.rsplit(".", 1)[0]
        try:
            data = fs.cat_file(url)
        except OSError as err:
            if is_storage_error(err):
                raise StorageError(f"reading {redact(url)}: {type(err).__name__}: {err}") from err
            yield _sample(key, reason=f"cannot read file: {type(err).__name__}: {err}")
            continue
        sidecars = _sidecars(fs, url)
        sample = _sample(key, data, _caption_from(sidecars, spec.caption_key))
        sample["json_without_caption"] = missing_caption_fields(sidecars, spec.caption_key)
        sample["suffix"] = url.rsplit(".", 1)[-1].lower()  # IMG_2000.jpg and IMG_2000.png: IMG_2000, IMG_2000_png
        sample["source_name"] = path[len(root):] if path.startswith(root) else posixpath.basename(path)
        yield sample


def _cell_bytes(value) -> bytes | None:
    if isinstance(value, dict):
        value = value.get("bytes")
    return value if isinstance(value, (bytes, bytearray)) else None


def read_parquet(shard: Shard, spec: InputSpec) -> Iterator[dict]:
    """Rows of a Parquet file with an image-bytes column; a bad file ends the shard with one failure row."""
    fs = filesystem(shard.url, spec.storage)
    stem = posixpath.basename(shard.url).rsplit(".", 1)[0]
    n = 0
    try:
        with fs.open(shard.url, "rb") as f:
            pf = pq.ParquetFile(f)
            names = set(pf.schema_arrow.names)
            wanted = [c for c in (spec.image_column, spec.caption_column, spec.key_column) if c]
            missing = [c for c in wanted if c not in names]
            if missing:
                reason = f"parquet lacks column(s) {missing}; has {sorted(names)}"
                yield _sample(f"{shard.shard_id}#schema", reason=reason)
                return
            for batch in pf.iter_batches(batch_size=256, columns=wanted):
                cols = batch.to_pydict()
                for i in range(batch.num_rows):
                    key = str(cols[spec.key_column][i]) if spec.key_column else f"{stem}-{n:08d}"
                    caption = cols[spec.caption_column][i] if spec.caption_column else ""
                    data = _cell_bytes(cols[spec.image_column][i])
                    n += 1
                    if data is None:
                        yield _sample(key, reason=f"no image bytes in column {spec.image_column!r}")
                    else:
                        yield _sample(key, bytes(data), caption or "")
    except (OSError, ValueError) as err:
        if is_storage_error(err):
            raise StorageError(f"reading {redact(shard.url)}: {type(err).__name__}: {err}") from err
        reason = f"parquet unreadable after {n} rows: {type(err).__name__}: {err}; rest of shard lost"
        yield _sample(f"{shard.shard_id}#damaged-{n}", reason=reason)


READERS = {"webdataset": read_tar, "folder": read_folder, "parquet": read_parquet}


def webdataset_key(key: str) -> str:
    """``key`` as WebDataset reads it back: a dot in the last path component would split it into key and
    extension (``holiday.v2.png`` -> key ``holiday``), so dots there become underscores."""
    head, sep, name = key.rpartition("/")
    return head + sep + name.replace(".", "_")


class UniqueKeys:
    """Keys unique within one shard: a key seen before (two files with one stem, a tar key whose members are not
    contiguous, two unsafe members with one base name) gets the sample's suffix (``IMG_2000_png``) or a number."""

    def __init__(self):
        self.used: set[str] = set()

    def __call__(self, key: str, suffix: str = "") -> str:
        candidates = ([f"{key}_{suffix}"] if suffix else []) + [f"{key}_{n}" for n in range(2, len(self.used) + 3)]
        if key in self.used:
            key = next(c for c in candidates if c not in self.used)
        self.used.add(key)
        return key


def read_shard(shard: Shard, spec: InputSpec) -> Iterator[dict]:
    """Raw samples of any shard kind, with their position ``index`` in the shard and a key unique in the shard
    that survives WebDataset's key rule (the key as read is kept as ``source_key`` when it had to change)."""
    unique, sidecar_notes = UniqueKeys(), []
    for i, sample in enumerate(READERS[shard.kind](shard, spec)):
        original = sample.pop("source_name", sample["key"])  # a folder's file name, else the key as read
        key = sample["key"]
        written = webdataset_key(key) if sample["status"] == "ok" else key  # failed rows reach no tar
        sample["key"] = unique(written, sample.pop("suffix", ""))
        fields = sample.pop("json_without_caption", None)
        if fields is not None:
            sidecar_notes.append(fields)
        sample["source_key"] = original
        sample["index"] = i
        yield sample
    if sidecar_notes:
        from rayedit import events

        seen = sorted({f for fields in sidecar_notes for f in fields})[:8]
        events.warn(f"shard {shard.shard_id}: {len(sidecar_notes)} sample .json file(s) have no caption field "
                    f"(read: {', '.join(caption_fields(spec.caption_key))}; found: {', '.join(seen) or 'none'}); "
                    "those samples have no caption - set input.caption_key")
