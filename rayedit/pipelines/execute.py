"""Running a planned Ray Data pipeline to the end: count rows per shard, commit each shard once complete."""

from __future__ import annotations

import time

from tqdm import tqdm

from rayedit.config import OutputSpec


def run_and_commit(ds, output: OutputSpec, todo: list[str], dedup_threshold: float | None = None,
                   progress: bool = True, started: float | None = None) -> tuple[list[dict], float]:
    """Consume the write stage's rows; commit every shard as soon as all its rows are written (a remote task).
    Returns the commit summaries and the seconds until the first rows came back (from ``started``)."""
    import ray

    from rayedit.cluster.adapter import remote_call
    from rayedit.pipelines.shard_tracker import ShardTracker
    from rayedit.storage.commit import commit_shard

    started = started or time.time()
    tracker, pending, first = ShardTracker(), [], 0.0
    bar = tqdm(desc="samples", unit="img", disable=not progress)
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        first = first or time.time() - started
        for sid in tracker.add(batch):
            pending.append(remote_call(commit_shard, output, sid, sorted(tracker.parts[sid]), output.image_format,
                                       dedup_threshold))
        bar.update(int((batch["status"] != "eos").sum()))
        bar.set_postfix(shards=f"{len(tracker.completed)}/{len(todo)}")
    bar.close()
    committed = ray.get(pending)
    missing = tracker.incomplete(todo)
    if missing:
        raise RuntimeError(f"{len(missing)} shard(s) did not complete and were not committed "
                           f"(rerun the job to retry them): {dict(list(missing.items())[:5])}")
    return committed, first
