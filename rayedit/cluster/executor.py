"""Running planned work on Ray: the job pipelines (Ray Data over stage plans, each shard committed once complete),
the image datasets of training and HQS, single remote tasks, the cross-shard shuffle, and Ray Train fits.

``pipelines/`` plans what to do (rows and stage plans, all Ray-free); this module, ``adapter`` (stage -> operator),
``runtime`` (start/join Ray), ``train_worker`` (inside a Ray Train worker) and ``jobs`` (the Jobs API) are the only
code that imports Ray.
"""

from __future__ import annotations

import _thread
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import ray
from tqdm import tqdm

from rayedit import events
from rayedit.cluster.adapter import ProgressCounter, StagePlan, apply_stage, remote_call
from rayedit.cluster.runtime import init_ray
from rayedit.cluster.shard_tracker import ShardTracker
from rayedit.config import InputSpec, OutputSpec, SpecError
from rayedit.pipelines.result import JobResult, record_run
from rayedit.storage.commit import commit_shard, write_manifest
from rayedit.storage.fs import redact


def check_resources(stages: list[StagePlan], cluster: dict[str, float], strict: bool) -> list[str]:
    """Actor pools that cannot all start would wait forever: an error on a fixed (local) cluster, a warning
    on a remote one, which may autoscale."""
    problems = []
    light = max(s.num_cpus for s in stages if not s.actors)
    for kind, attr in (("CPU", "num_cpus"), ("GPU", "num_gpus")):
        need = sum(s.actors * getattr(s, attr) for s in stages) + (light if kind == "CPU" else 0)
        have = cluster.get(kind, 0)
        if need > have:
            problems.append(f"resources: the actor pools need {need:g} {kind}s but the cluster has {have:g}; "
                            f"lower resources.*.actors or resources.*.{attr}")
    if problems and strict:
        raise SpecError("; ".join(problems))
    return problems


def build_dataset(rows: list[dict], stages: list[StagePlan], num_blocks: int, strict_resources: bool = True,
                  block_bytes: int | None = None, counter=None) -> ray.data.Dataset:
    """``rows`` (one per input shard or sample group) through ``stages`` as a Ray Dataset. ``block_bytes``: the
    target block size, so stages overlap instead of waiting for whole shards; ``counter``: a ProgressCounter the
    model stage reports finished batches to."""
    for warning in check_resources(stages, ray.cluster_resources(), strict_resources):
        events.warn(f"{warning} (waiting for the cluster to scale up)")
    if block_bytes:
        ray.data.DataContext.get_current().target_max_block_size = block_bytes
    ds = ray.data.from_items(rows, override_num_blocks=num_blocks)
    for stage in stages:
        ds = apply_stage(ds, stage, counter)
    return ds


class JobStalled(RuntimeError):
    """No batch was edited, written or committed for ``resources.stall_minutes``."""


class Watchdog:
    """Fails a job that makes no progress for ``seconds``: interrupts the driver's main thread, where the job waits
    on Ray Data (a run in another thread is not interrupted). ``alive()`` on every sign of progress."""

    def __init__(self, seconds: float):
        self.seconds, self.last, self.fired = seconds, time.time(), False
        self.stop = threading.Event()
        self.thread = None
        if seconds > 0 and threading.current_thread() is threading.main_thread():
            self.thread = threading.Thread(target=self._watch, daemon=True)
            self.thread.start()

    def alive(self) -> None:
        self.last = time.time()

    def _watch(self) -> None:
        while not self.stop.wait(min(5.0, self.seconds / 4)):
            if time.time() - self.last > self.seconds:
                self.fired = True
                _thread.interrupt_main()
                return

    def close(self) -> None:
        self.stop.set()


class ProgressBar:
    """The driver's samples bar: moves with the model stage's finished batches (a ProgressCounter polled from a
    thread) and with the rows coming back from the write stage, whichever is further."""

    def __init__(self, counter, progress: bool, poll_seconds: float = 1.0, on_progress=None):
        self.bar = tqdm(desc="samples", unit="img", disable=not progress)
        self.counter, self.lock, self.stop = counter, threading.Lock(), threading.Event()
        self.written, self.seen, self.on_progress = 0, 0, on_progress
        self.thread = None
        if counter is not None:
            self.thread = threading.Thread(target=self._poll, args=(poll_seconds,), daemon=True)
            self.thread.start()

    def _show(self, n: int) -> None:
        with self.lock:
            if n > self.seen and self.on_progress is not None:
                self.on_progress()
            self.seen = max(self.seen, n)
            if n > self.bar.n:
                self.bar.update(n - self.bar.n)

    def _poll(self, seconds: float) -> None:
        while not self.stop.wait(seconds):
            try:
                self._show(ray.get(self.counter.value.remote(), timeout=seconds * 5))
            except Exception:  # noqa: BLE001 - a missed poll only delays the bar
                continue

    def written_rows(self, n: int, shards: str) -> None:
        """Rows that came back from the write stage."""
        self.written += n
        self._show(self.written)
        with self.lock:
            self.bar.set_postfix(shards=shards)

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join()
        self._show(self.written)
        self.bar.close()


def run_and_commit(ds: ray.data.Dataset, output: OutputSpec, todo: list[str], dedup_threshold: float | None = None,
                   progress: bool = True, started: float | None = None, counter=None,
                   stall_minutes: float = 0.0) -> tuple[list[dict], float]:
    """Consume the write stage's rows; commit every shard as soon as all its rows are written (a remote task).
    Returns the commit summaries and the seconds until the first rows came back (from ``started``). A job with no
    progress for ``stall_minutes`` raises JobStalled."""
    started = started or time.time()
    tracker, pending, committed, first = ShardTracker(), [], [], 0.0

    def collect(timeout: float | None) -> None:
        nonlocal pending
        ready, pending = ray.wait(pending, num_returns=len(pending), timeout=timeout) if pending else ([], [])
        for summary in ray.get(ready):
            watchdog.alive()
            committed.append(summary)
            events.emit("shard_committed", shard=summary["shard_id"], samples=summary["samples"],
                        edited=summary["edited"], filtered=summary["filtered"], failed=summary["failed"],
                        shards_done=len(committed), shards_todo=len(todo),
                        elapsed_s=round(time.time() - started, 1))

    watchdog = Watchdog(stall_minutes * 60)
    bar = ProgressBar(counter, progress, on_progress=watchdog.alive)
    try:
        # no prefetch: the rows are small (statuses and part paths), and a prefetching iterator held each batch until
        # the next was written (~1.7 s later to the first result of the demo job, and every commit that much later)
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=0):
            watchdog.alive()
            if not first:
                first = time.time() - started
                events.emit("first_result", rows=int((batch["status"] != "eos").sum()), seconds=round(first, 1),
                            since_process_start=round(events.process_age(), 1))
            for sid in tracker.add(batch):
                pending.append(remote_call(commit_shard, output, sid, sorted(tracker.parts[sid]),
                                           output.format_for(), dedup_threshold))
            collect(timeout=0)
            bar.written_rows(int((batch["status"] != "eos").sum()), f"{len(tracker.completed)}/{len(todo)}")
        collect(timeout=None)
    except KeyboardInterrupt:
        if not watchdog.fired:
            raise
        raise JobStalled(f"no batch edited, written or committed for {stall_minutes:g} min "
                         "(resources.stall_minutes); rerun to resume - committed shards are kept") from None
    finally:
        watchdog.close()
        bar.close()
    missing = tracker.incomplete(todo)
    if missing:
        raise RuntimeError(f"{len(missing)} shard(s) did not complete and were not committed "
                           f"(rerun the job to retry them): {dict(list(missing.items())[:5])}")
    return committed, first


def run_plan(plan, stages: Callable[[], list[StagePlan]], rows: Callable[[], list[dict]], num_blocks: int,
             address: str | None, progress: bool, started: float, block_bytes: int | None = None) -> JobResult:
    """Run a job plan (edit or generate: ``spec``, ``shards``, ``todo``, ``done``, ``notes``): the pipeline of
    ``stages()`` over ``rows()`` for its unfinished shards, the cross-shard duplicate pass, the manifest; counts
    over all its committed shards."""
    spec, all_ids = plan.spec, [s.shard_id for s in plan.shards]
    committed, first = [], 0.0
    events.emit("job_start", job=spec.name, output=redact(spec.output.url), shards_total=len(all_ids),
                shards_todo=len(plan.todo), shards_done=len(plan.done & set(all_ids)))
    if plan.todo:
        cluster = init_ray(address)
        events.emit("cluster", cpus=cluster["cpus"], gpus=cluster["gpus"], nodes=len(cluster["nodes"]))
        counter = ProgressCounter.remote()
        ds = build_dataset(rows(), stages(), num_blocks, address is None, block_bytes, counter)
        dedup = None if spec.dedup is None else spec.dedup.threshold
        committed, first = run_and_commit(ds, spec.output, [s.shard_id for s in plan.todo], dedup, progress, started,
                                          counter, getattr(spec.resources, "stall_minutes", 0.0))
    if spec.dedup is not None and spec.dedup.across_shards and len(all_ids) > 1:
        from rayedit.pipelines.dedup_across import dedup_across_shards

        t0 = time.time()
        found = dedup_across_shards(spec.output, all_ids, spec.dedup.threshold, spec.seed,
                                    start_ray=lambda: init_ray(address))
        events.emit("dedup_across", shards=len(all_ids), **found, seconds=round(time.time() - t0, 2))
    t0 = time.time()
    statuses = write_manifest(spec.output, all_ids).column("status").to_pylist()
    events.emit("manifest", shards=len(all_ids), rows=len(statuses), seconds=round(time.time() - t0, 2))
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


def decoded_images(spec: InputSpec, resolution: int, limit: int | None = None) -> ray.data.Dataset:
    """A Ray Dataset with ``key``, ``pixels`` (uint8 res x res x 3) and ``caption`` ('' if none) columns: the
    decodable images of ``spec`` (the edit pipeline's read and decode stages; undecodable images are dropped), at
    most ``limit`` rows. For jobs that consume images without writing shards (training, HQS)."""
    from rayedit.stages.compose import Then
    from rayedit.stages.decode import DecodeImages
    from rayedit.stages.read import ReadShards
    from rayedit.storage.shards import plan_shards

    shards = plan_shards(spec)
    if not shards:
        raise SpecError(f"images.url {spec.url!r}: no input shards")
    ds = ray.data.from_items([s.to_row() for s in shards], override_num_blocks=len(shards))
    read = StagePlan("read_decode", lambda: Then(ReadShards(spec), DecodeImages(resolution, spec.resize)), 1,
                     num_cpus=0.25, generator=True)
    ds = apply_stage(ds, read)

    def decodable(batch):
        from rayedit.rows import ok_mask

        ok = ok_mask(batch)
        captions = np.asarray([c or "" for c in batch["caption"]], dtype=object)[ok].astype(str)
        return {"key": np.asarray(batch["key"])[ok].astype(str), "pixels": np.asarray(batch["pixels"])[ok],
                "caption": captions}

    ds = ds.map_batches(decodable, batch_format="numpy", num_cpus=0.25)
    return ds.limit(limit) if limit else ds


def through_stage(ds: ray.data.Dataset, stage: StagePlan) -> list[dict]:
    """Every row of ``ds`` after one more stage (an actor pool or tasks), gathered on the driver."""
    return apply_stage(ds, stage).take_all()


def run_task(fn: Callable, *args, num_cpus: float = 1.0, num_gpus: float = 0.0):
    """``fn(*args)`` as one Ray task with those resources (a GPU when asked for); its result."""
    return ray.get(remote_call(fn, *args, num_cpus=num_cpus, num_gpus=num_gpus))


def shuffle_groups(items: list[dict], emit: Callable[[dict], list[dict]], key: str,
                   reduce: Callable[[dict], dict]) -> Iterator[dict]:
    """Map-shuffle-reduce without gathering: ``emit`` turns each item into records (one task per item), Ray Data's
    groupby moves records with the same ``key`` together across the cluster, ``reduce`` turns each group (numpy
    columns) into result columns; yields the result rows."""
    ds = ray.data.from_items(items, override_num_blocks=len(items))
    ds = ds.flat_map(emit, num_cpus=0.25)
    yield from ds.groupby(key).map_groups(reduce, batch_format="numpy", num_cpus=0.25).iter_rows()


def fit_torch(train_loop: Callable[[dict], None], config: dict, name: str, images: ray.data.Dataset, workers: int,
              num_cpus: float, num_gpus: float, storage_path: str, storage_filesystem=None) -> None:
    """Run ``train_loop(config)`` on ``workers`` Ray Train workers (DDP; a GPU each when ``num_gpus``), the images
    sharded among them as dataset ``train``, checkpoints under ``storage_path``/``name`` (a rerun resumes)."""
    from ray.train import CheckpointConfig, LoggingConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    trainer = TorchTrainer(
        train_loop, train_loop_config=config,
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=num_gpus > 0,
                                     resources_per_worker={"CPU": num_cpus} | ({"GPU": num_gpus} if num_gpus else {})),
        datasets={"train": images},
        run_config=RunConfig(name=name, storage_path=storage_path, storage_filesystem=storage_filesystem,
                             checkpoint_config=CheckpointConfig(num_to_keep=2),
                             logging_config=LoggingConfig(log_level="WARNING")),  # no per-checkpoint INFO lines
    )
    trainer.fit()


def cluster_resources() -> dict[str, float]:
    """CPUs, GPUs (and custom resources) of the connected cluster."""
    return ray.cluster_resources()
