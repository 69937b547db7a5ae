"""Running a planned Ray Data pipeline to the end: count rows per shard, commit each shard once complete."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

from tqdm import tqdm

from rayedit import events
from rayedit.config import OutputSpec
from rayedit.storage.commit import write_manifest
from rayedit.storage.fs import filesystem, join, redact, write_atomic


@dataclass
class JobResult:
    """What a run did."""

    output_url: str
    counts: dict[str, int]
    shards_total: int
    shards_skipped: int
    shards_committed: int
    samples_this_run: int
    seconds: float
    notes: list[str]
    first_result_seconds: float = 0.0
    """Time until the first edited rows came back (start-up: Ray, actors, model loading, pipeline fill)."""

    @property
    def images_per_second(self) -> float:
        """Samples accounted for in this run per wall-clock second."""
        return self.samples_this_run / self.seconds if self.seconds else 0.0


def run_and_commit(ds, output: OutputSpec, todo: list[str], dedup_threshold: float | None = None,
                   progress: bool = True, started: float | None = None) -> tuple[list[dict], float]:
    """Consume the write stage's rows; commit every shard as soon as all its rows are written (a remote task).
    Returns the commit summaries and the seconds until the first rows came back (from ``started``)."""
    import ray

    from rayedit.cluster.adapter import remote_call
    from rayedit.pipelines.shard_tracker import ShardTracker
    from rayedit.storage.commit import commit_shard

    started = started or time.time()
    tracker, pending, committed, first = ShardTracker(), [], [], 0.0

    def collect(timeout: float | None) -> None:
        nonlocal pending
        ready, pending = ray.wait(pending, num_returns=len(pending), timeout=timeout) if pending else ([], [])
        for summary in ray.get(ready):
            committed.append(summary)
            events.emit("shard_committed", shard=summary["shard_id"], samples=summary["samples"],
                        edited=summary["edited"], filtered=summary["filtered"], failed=summary["failed"],
                        shards_done=len(committed), shards_todo=len(todo),
                        elapsed_s=round(time.time() - started, 1))

    bar = tqdm(desc="samples", unit="img", disable=not progress)
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        first = first or time.time() - started
        for sid in tracker.add(batch):
            pending.append(remote_call(commit_shard, output, sid, sorted(tracker.parts[sid]), output.image_format,
                                       dedup_threshold))
        collect(timeout=0)
        bar.update(int((batch["status"] != "eos").sum()))
        bar.set_postfix(shards=f"{len(tracker.completed)}/{len(todo)}")
    bar.close()
    collect(timeout=None)
    missing = tracker.incomplete(todo)
    if missing:
        raise RuntimeError(f"{len(missing)} shard(s) did not complete and were not committed "
                           f"(rerun the job to retry them): {dict(list(missing.items())[:5])}")
    return committed, first


def run_plan(plan, build_dataset, address: str | None, progress: bool, started: float) -> JobResult:
    """Run a job plan (edit or generate: ``spec``, ``shards``, ``todo``, ``done``, ``notes``): the pipeline over its
    unfinished shards, the cross-shard duplicate pass, the manifest; counts over all its committed shards."""
    from rayedit.cluster.runtime import init_ray

    spec, all_ids = plan.spec, [s.shard_id for s in plan.shards]
    committed, first = [], 0.0
    events.emit("job_start", job=spec.name, output=redact(spec.output.url), shards_total=len(all_ids),
                shards_todo=len(plan.todo), shards_done=len(plan.done & set(all_ids)))
    if plan.todo:
        cluster = init_ray(address)
        events.emit("cluster", cpus=cluster["cpus"], gpus=cluster["gpus"], nodes=len(cluster["nodes"]))
        ds = build_dataset(plan, strict_resources=address is None)
        dedup = None if spec.dedup is None else spec.dedup.threshold
        committed, first = run_and_commit(ds, spec.output, [s.shard_id for s in plan.todo], dedup, progress, started)
    if spec.dedup is not None and spec.dedup.across_shards and len(all_ids) > 1:
        from rayedit.pipelines.dedup_across import dedup_across_shards

        dedup_across_shards(spec.output, all_ids, spec.dedup.threshold, spec.seed, start_ray=lambda: init_ray(address))
    statuses = write_manifest(spec.output, all_ids).column("status").to_pylist()
    result = JobResult(
        output_url=redact(spec.output.url), counts={s: statuses.count(s) for s in ("edited", "filtered", "failed")},
        shards_total=len(all_ids), shards_skipped=len(plan.done & set(all_ids)), shards_committed=len(committed),
        samples_this_run=sum(c["samples"] for c in committed), seconds=time.time() - started, notes=plan.notes,
        first_result_seconds=first,
    )
    record_run(spec.output, result)
    events.emit("job_end", job=spec.name, **result.counts, samples_this_run=result.samples_this_run,
                shards_committed=result.shards_committed, seconds=round(result.seconds, 1),
                images_per_second=round(result.images_per_second, 3))
    return result


def record_run(output: OutputSpec, result: JobResult) -> None:
    """Append this run to ``_runs/`` (when, samples, seconds, throughput): what ``rayedit report`` lists."""
    finished = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    record = {"finished": finished, "samples_this_run": result.samples_this_run, "seconds": result.seconds,
              "images_per_second": result.images_per_second, "shards_committed": result.shards_committed,
              "counts": result.counts}
    name = f"{finished.replace(':', '')}-{uuid.uuid4().hex[:6]}.json"
    write_atomic(filesystem(output.url, output.storage), join(output.url, "_runs", name), json.dumps(record).encode())
