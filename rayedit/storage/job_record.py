"""What an output was made from (``_job.json``): a rerun into the same output must make the same samples.

Each job kind writes a fingerprint of every spec field that decides its samples (not resources or names); a
resumed or repeated run whose fingerprint differs is refused before any work, so one output never mixes samples
made with two settings. ``clear_output`` removes what rayedit wrote under an output, to start over.
"""

from __future__ import annotations

import json

from rayedit.config import OutputSpec, SpecError
from rayedit.storage.fs import filesystem, join, redact, write_atomic

JOB_FILE = "_job.json"
LAYOUT = ("shards", "_manifest", "_done", "_staging", "_embeddings", "_runs", "manifest.parquet", JOB_FILE,
          "_dedup_across.json")
"""Everything rayedit writes under an output URL (what ``clear_output`` removes, and nothing else)."""


def check_same_job(output: OutputSpec, fp: dict) -> None:
    """Refuse an output that holds samples made from another fingerprint (naming the fields that changed)."""
    fs = filesystem(output.url, output.storage)
    path = join(output.url, JOB_FILE)
    if not fs.exists(path):
        return
    old = json.loads(fs.cat_file(path))
    changed = sorted(k for k in set(old) | set(fp) if old.get(k) != fp.get(k))
    if changed:
        what = "a generation" if old.get("kind") == "generate" else "a job's samples"
        raise SpecError(f"output {redact(output.url)} holds {what} made with other settings (changed: "
                        f"{', '.join(changed)}); restore those fields, write to a new output.url, or start over "
                        "with --restart (deletes that output)")


def write_job_record(output: OutputSpec, fp: dict) -> None:
    """Record the fingerprint (before any sample is written). A store that keeps failing raises StorageError."""
    from rayedit.storage.fs import describe_storage_error, is_storage_error
    from rayedit.storage.readers import StorageError

    try:
        write_atomic(filesystem(output.url, output.storage), join(output.url, JOB_FILE),
                     json.dumps(fp, indent=2).encode())
    except Exception as err:
        if is_storage_error(err):
            raise StorageError(f"writing {redact(join(output.url, JOB_FILE))}: {describe_storage_error(err)}"
                               ) from err
        raise


def clear_output(output: OutputSpec) -> list[str]:
    """Delete rayedit's files under the output URL (the LAYOUT entries only); returns what was removed."""
    fs = filesystem(output.url, output.storage)
    removed = []
    for name in LAYOUT:
        path = join(output.url, name)
        if fs.exists(path):
            fs.rm(path, recursive=True)
            removed.append(name)
    fs.invalidate_cache()
    return removed
