"""The one place that turns Ray-free stages into Ray Data operators.

A stage that loads a model runs in a fixed-size actor pool named after the stage (its ``setup()`` runs
once per actor); a light stage runs as tasks. Scheduling knobs come from the spec's ``resources``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import ray


@dataclass(frozen=True)
class StagePlan:
    """How one stage is scheduled. ``make`` builds the stage inside the worker (models load there)."""

    name: str
    make: Callable[[], Callable]
    batch_size: int
    actors: int = 0
    """0: run as tasks; n > 0: a pool of n actors."""
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    generator: bool = False
    """The stage yields several batches per input batch (e.g. reading a shard)."""
    counts_progress: bool = False
    """Each finished batch adds its rows to the job's progress counter (the model stage: the bar moves per batch,
    not per write batch)."""


def crash_once(stage: str) -> None:
    """Fault-injection hook for tests: with RAYEDIT_CRASH_STAGE=<stage> and RAYEDIT_CRASH_MARKER=<path>, the first
    actor of that stage to get a batch while the marker file does not exist creates it and kills its own process
    (as a GPU OOM kill or a lost node would); with RAYEDIT_STALL_STAGE=<stage> every actor of that stage hangs (as
    a deadlocked driver or a pool waiting for lost resources would). Does nothing unless the variables are set."""
    if os.environ.get("RAYEDIT_STALL_STAGE") == stage:
        time.sleep(24 * 3600)
    marker = os.environ.get("RAYEDIT_CRASH_MARKER")
    if os.environ.get("RAYEDIT_CRASH_STAGE") != stage or not marker:
        return
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # exactly one process wins
    except FileExistsError:
        return
    os.close(fd)
    os._exit(1)


@ray.remote(num_cpus=0)
class ProgressCounter:
    """Rows the model stage has finished, across all its actors (polled by the driver's progress bar)."""

    def __init__(self):
        self.done = 0

    def add(self, n: int) -> None:
        self.done += n

    def value(self) -> int:
        return self.done


def _rows(batch) -> int:
    status = batch.get("status") if isinstance(batch, dict) else None
    return int((status != "eos").sum()) if status is not None else len(next(iter(batch.values()), []))


def _actor_class(plan: StagePlan, counter=None) -> type:
    make, threads, plan_name = plan.make, max(1, int(plan.num_cpus)), plan.name
    counter = counter if plan.counts_progress else None

    class StageActor:
        def __init__(self):
            import torch

            torch.set_num_threads(threads)  # one actor must not grab every core of the node
            self.stage = make()
            setup = getattr(self.stage, "setup", None)
            if setup is not None:
                setup()

        def __call__(self, batch):
            crash_once(plan_name)
            out = self.stage(batch)
            if counter is not None:
                counter.add.remote(_rows(out))
            return out

    StageActor.__name__ = StageActor.__qualname__ = "".join(p.title() for p in plan.name.split("_")) + "Actor"
    return StageActor


def _task_fn(plan: StagePlan) -> Callable:
    make = plan.make
    if plan.generator:
        def run_stage(batch):
            yield from make()(batch)
    else:
        def run_stage(batch):
            return make()(batch)
    run_stage.__name__ = plan.name
    return run_stage


def apply_stage(ds: ray.data.Dataset, plan: StagePlan, counter=None) -> ray.data.Dataset:
    """Append ``plan``'s stage to the dataset as map_batches (actor pool or tasks); ``counter``: a ProgressCounter
    the stage reports finished rows to, when its plan ``counts_progress``."""
    common = dict(batch_size=plan.batch_size, batch_format="numpy", num_cpus=plan.num_cpus, zero_copy_batch=False)
    if plan.num_gpus:
        common["num_gpus"] = plan.num_gpus
    if plan.actors:
        return ds.map_batches(_actor_class(plan, counter), compute=ray.data.ActorPoolStrategy(size=plan.actors),
                              **common)
    return ds.map_batches(_task_fn(plan), **common)


def remote_call(fn: Callable, *args, num_cpus: float = 0.25, num_gpus: float = 0.0, **kwargs) -> ray.ObjectRef:
    """Run a Ray-free function as a Ray task (retried on worker failure)."""
    return ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=3)(fn).remote(*args, **kwargs)
