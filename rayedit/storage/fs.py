"""fsspec access: resolve a URL to a filesystem, expand patterns, redact URLs, write atomically."""

from __future__ import annotations

import errno
import re
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import fsspec
from braceexpand import braceexpand
from fsspec.implementations.local import LocalFileSystem

from rayedit.config import SpecError, StorageSpec

_GLOB_CHARS = re.compile(r"[*?\[]")


TRANSIENT_ERRNOS = {errno.EBUSY, errno.EAGAIN, errno.ETIMEDOUT, errno.ECONNRESET, errno.ECONNREFUSED, errno.EIO,
                    getattr(errno, "EREMOTEIO", 121)}
"""errno values of I/O errors that say the store failed, not the data (s3fs maps 503 SlowDown to EBUSY)."""
_NETWORK_MODULES = ("botocore", "aiobotocore", "aiohttp", "urllib3", "requests", "http.client", "socket")


def is_storage_error(err: BaseException) -> bool:
    """Whether an exception means the storage (network, object store) failed - retry or fail the job - rather than
    the data being damaged (record the sample as failed). Network errors, timeouts, and OSErrors with a transient
    errno or caused by a network client count; tar/gzip/parquet decoding errors do not."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, (ConnectionError, TimeoutError)):
            return True
        if isinstance(err, OSError) and err.errno in TRANSIENT_ERRNOS:
            return True
        if type(err).__module__.split(".")[0] in _NETWORK_MODULES:
            return True
        err = err.__cause__ or err.__context__
    return False


def describe_storage_error(err: BaseException) -> str:
    """A store failure in words: s3fs reports HTTP 503 SlowDown as EBUSY, which says nothing of HTTP."""
    if isinstance(err, OSError) and err.errno == errno.EBUSY:
        return f"503 SlowDown after the client's retries ({err})"
    return f"{type(err).__name__}: {err}"


def protocol_of(url: str) -> str:
    """The fsspec protocol of a URL ('file' for plain paths)."""
    return fsspec.utils.get_protocol(url)


def absolute_local(url: str) -> str:
    """A plain local path made absolute against this process's working directory (a Ray Train worker runs in its
    own one); URLs with a protocol come back unchanged."""
    return str(Path(url).expanduser().absolute()) if "://" not in url and protocol_of(url) == "file" else url


def filesystem(url: str, storage: StorageSpec | None = None) -> fsspec.AbstractFileSystem:
    """The fsspec filesystem for ``url`` configured from ``storage`` (and the environment)."""
    protocol = protocol_of(url)
    opts = (storage or StorageSpec()).fsspec_options(protocol)
    try:
        return fsspec.filesystem(protocol, **opts)
    except (ImportError, ValueError) as err:
        raise SpecError(f"cannot open {redact(url)}: {err}") from None


def redact(url: str) -> str:
    """Drop any user:password part of a URL so it can be logged or stored."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return url


def full_url(fs: fsspec.AbstractFileSystem, path: str) -> str:
    """A path returned by ``fs.glob``/``fs.ls`` turned back into a URL with its protocol."""
    if isinstance(fs, LocalFileSystem):
        return path
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
    return path if "://" in path else f"{protocol}://{path}"


def expand(urls: str | Iterable[str], storage: StorageSpec | None = None) -> list[str]:
    """Expand brace and glob patterns into a sorted, de-duplicated list of existing file URLs.

    A plain URL that does not exist, and a pattern that matches nothing, raise SpecError naming it.
    """
    if isinstance(urls, str):
        urls = [urls]
    out: list[str] = []
    for pattern in urls:
        for url in braceexpand(pattern):
            fs = filesystem(url, storage)
            try:
                if _GLOB_CHARS.search(url):
                    matches = [full_url(fs, p) for p in fs.glob(url) if not fs.isdir(p)]
                    if not matches:
                        raise SpecError(f"input pattern matches no files: {redact(url)}")
                    out.extend(matches)
                elif fs.isdir(url):
                    out.append(url.rstrip("/") + "/")
                elif fs.exists(url):
                    out.append(url)
                else:
                    raise SpecError(f"input not found: {redact(url)}")
            except SpecError:
                raise
            except Exception as err:  # noqa: BLE001 - botocore's connection errors are not OSErrors
                if is_storage_error(err):
                    raise SpecError(f"cannot reach the store of input {redact(url)} ({endpoint_of(url, storage)}): "
                                    f"{type(err).__name__}: {err}") from None
                if isinstance(err, (OSError, ValueError)):
                    raise SpecError(f"cannot list input {redact(url)}: {err}") from None
                raise
    return sorted(dict.fromkeys(out))


def endpoint_of(url: str, storage: StorageSpec | None = None) -> str:
    """Where an object-store URL is served from, for error messages: the spec's endpoint, $AWS_ENDPOINT_URL, or
    the protocol's default."""
    import os

    protocol = protocol_of(url)
    if protocol in ("s3", "s3a"):
        found = (storage.endpoint_url if storage else None) or os.environ.get("AWS_ENDPOINT_URL")
        return f"endpoint {redact(found)}" if found else "the default AWS S3 endpoint"
    return f"{protocol}://"


def has_atomic_rename(fs: fsspec.AbstractFileSystem) -> bool:
    """Local disks rename atomically; object stores make a PUT visible only once complete."""
    return isinstance(fs, LocalFileSystem)


def _commit(fs: fsspec.AbstractFileSystem, path: str, write: Callable[[str], None]) -> None:
    """Make ``path`` appear whole or not at all: where the store has rename (local disk), ``write`` a temporary
    sibling and rename it; on object stores a single PUT is already all-or-nothing."""
    if not has_atomic_rename(fs):
        write(path)
        return
    parent, name = path.rsplit("/", 1)
    fs.makedirs(parent, exist_ok=True)
    tmp = f"{parent}/.tmp-{uuid.uuid4().hex}-{name}"
    write(tmp)
    fs.mv(tmp, path)


def write_atomic(fs: fsspec.AbstractFileSystem, path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see ``_commit``)."""
    _commit(fs, path, lambda target: fs.pipe_file(target, data))


def put_atomic(fs: fsspec.AbstractFileSystem, local_path: str, path: str) -> None:
    """Upload a local file to ``path`` atomically (see ``_commit``), streaming rather than in memory."""
    _commit(fs, path, lambda target: fs.put_file(local_path, target))


def join(base: str, *parts: str) -> str:
    """Join URL/path parts with '/'."""
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])
