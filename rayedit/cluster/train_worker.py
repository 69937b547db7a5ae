"""Inside a Ray Train worker: who this worker is, its share of the images, checkpoints to resume from and report.

Training loops (``pipelines/train_dds.py``) call these instead of ``ray.train``, so the Ray API stays in
``cluster/``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import ray.train
import ray.train.torch
import torch


@dataclass(frozen=True)
class Worker:
    """This worker's rank and device."""

    rank: int
    device: torch.device

    @classmethod
    def current(cls) -> Worker:
        """The worker this code runs in (its Python logging from WARNING up: Ray Train logs every report at INFO
        through a logger its own level setting does not reach)."""
        logging.getLogger().setLevel(logging.WARNING)
        return cls(ray.train.get_context().get_world_rank(), ray.train.torch.get_device())


def resume_folder(load: Callable[[str], object]):
    """``load(folder)`` on the latest checkpoint of this run, if there is one (a rerun of the same spec); else
    None."""
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        return load(folder)


def data_parallel(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` wrapped for distributed data-parallel training (as it is with one worker)."""
    return ray.train.torch.prepare_model(model, move_to_device=False)


def image_batches(batch_size: int) -> Iterator[dict]:
    """This worker's share of the ``train`` dataset, as numpy batches of ``batch_size`` (the last partial one
    dropped)."""
    return ray.train.get_dataset_shard("train").iter_batches(batch_size=batch_size, batch_format="numpy",
                                                             drop_last=True)


def report(metrics: dict, rank: int, save: Callable[[str], None]) -> None:
    """Report ``metrics``; rank 0 also writes a checkpoint with ``save(folder)`` (what a rerun resumes from)."""
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = None
        if rank == 0:
            save(folder)
            checkpoint = ray.train.Checkpoint.from_directory(folder)
        ray.train.report(metrics, checkpoint=checkpoint)


def progress_bar(total: int, done: int, desc: str):
    """A progress bar that shows on the driver (Ray's tqdm), starting at ``done``."""
    from ray.experimental.tqdm_ray import tqdm

    bar = tqdm(total=total, desc=desc)
    bar.update(done)
    return bar
