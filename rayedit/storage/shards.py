"""Planning the unit of work: an input shard, and the output shard name derived from it."""

from __future__ import annotations

import posixpath
from dataclasses import asdict, dataclass, field

from rayedit.config import InputSpec, SpecError
from rayedit.storage.fs import expand, filesystem, full_url, redact

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif")


@dataclass(frozen=True)
class Shard:
    """One input shard: a tar, a parquet file, or a slice of an image folder. ``shard_id`` names its output."""

    shard_id: str
    kind: str
    url: str
    files: list[str] = field(default_factory=list)

    def to_row(self) -> dict:
        """A plain dict, as Ray Data rows want."""
        return asdict(self)


def _kind_of(url: str, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    if url.endswith("/"):
        return "folder"
    lower = url.lower()
    if lower.endswith((".tar", ".tar.gz", ".tgz")):
        return "webdataset"
    if lower.endswith(".parquet"):
        return "parquet"
    raise SpecError(f"cannot tell the format of input {redact(url)}; set input.format")


def _stem(url: str) -> str:
    name = posixpath.basename(url.rstrip("/"))
    for ext in (".tar.gz", ".tgz", ".tar", ".parquet"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name


def _unique_ids(urls: list[str]) -> list[str]:
    """Basename stems if they are unique, else paths relative to the common prefix ('/' -> '__')."""
    stems = [_stem(u) for u in urls]
    if len(set(stems)) == len(stems):
        return stems
    paths = [u.split("://", 1)[-1] for u in urls]
    prefix = posixpath.commonpath(paths) if len(paths) > 1 else posixpath.dirname(paths[0])
    return [_stem(p[len(prefix) :].strip("/")).replace("/", "__") for p in paths]


def _folder_shards(url: str, spec: InputSpec) -> list[Shard]:
    fs = filesystem(url, spec.storage)
    files = sorted(
        full_url(fs, p) for p in fs.find(url) if p.rsplit(".", 1)[-1].lower() in IMAGE_EXTENSIONS
    )
    if not files:
        raise SpecError(f"image folder has no images ({', '.join(IMAGE_EXTENSIONS)}): {redact(url)}")
    base = _stem(url) or "images"
    n = spec.files_per_shard
    return [
        Shard(f"{base}-{i // n:05d}", "folder", url, files[i : i + n]) for i in range(0, len(files), n)
    ]


def plan_shards(spec: InputSpec) -> list[Shard]:
    """Expand the input patterns and cut them into shards, each with a unique, deterministic id."""
    urls = expand(spec.url, spec.storage)
    kinds = [_kind_of(u, spec.format) for u in urls]
    shards: list[Shard] = []
    files = [(u, k) for u, k in zip(urls, kinds, strict=True) if k != "folder"]
    for (url, kind), sid in zip(files, _unique_ids([u for u, _ in files]) if files else [], strict=True):
        shards.append(Shard(sid, kind, url))
    for url, kind in zip(urls, kinds, strict=True):
        if kind == "folder":
            if not url.endswith("/"):
                url = url + "/"
            shards.extend(_folder_shards(url, spec))
    ids = [s.shard_id for s in shards]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise SpecError(f"inputs give clashing output shard names {dup[:5]}; rename or split the job")
    return shards
