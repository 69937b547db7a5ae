"""Trained artifacts on any fsspec URL: Asyrp directions, DDS translators, HQS results, sample grids.

An artifact is a folder: its files first, then one JSON that describes it, written last - a folder whose JSON
exists is complete. Every read and write goes through :func:`rayedit.storage.fs.filesystem`, so object-store
settings and credentials come from one place.
"""

from __future__ import annotations

import json

from rayedit.config import SpecError, StorageSpec
from rayedit.storage.fs import filesystem, join, redact, write_atomic


def write_artifact(url: str, files: dict[str, bytes], meta_name: str, meta: dict,
                   storage: StorageSpec | None = None) -> None:
    """Write ``files`` (name -> bytes) under ``url``, then ``meta_name`` (the JSON that marks completion)."""
    fs = filesystem(url, storage)
    for name, data in files.items():
        write_atomic(fs, join(url, name), data)
    write_atomic(fs, join(url, meta_name), json.dumps(meta, indent=2, default=list).encode())


def write_file(url: str, data: bytes, storage: StorageSpec | None = None) -> None:
    """One file (e.g. a sample grid) at ``url``, written atomically."""
    write_atomic(filesystem(url, storage), url, data)


def read_meta(url: str, meta_name: str, what: str, how: str, storage: StorageSpec | None = None) -> dict:
    """The JSON of the artifact at ``url``. A missing one is FileNotFoundError naming ``what`` it should be and
    ``how`` to make it; an unreadable one a SpecError."""
    fs = filesystem(url, storage)
    path = join(url, meta_name)
    try:
        found = fs.exists(path)
        meta = json.loads(fs.cat_file(path)) if found else None
    except Exception as err:  # noqa: BLE001 - any store or JSON error means the artifact cannot be used
        raise SpecError(f"{redact(url)}: cannot read {meta_name} ({type(err).__name__}: {err})") from None
    if meta is None:
        raise FileNotFoundError(f"{redact(url)} holds no {what} ({meta_name}); make one with `{how}`")
    return meta


def read_file(url: str, name: str, storage: StorageSpec | None = None) -> bytes:
    """The bytes of ``name`` inside the artifact at ``url``."""
    return filesystem(url, storage).cat_file(join(url, name))
