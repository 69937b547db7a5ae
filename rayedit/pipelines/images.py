"""Decoded input images as a Ray Dataset, for jobs that consume images without writing shards (training, HQS)."""

from __future__ import annotations

import numpy as np

from rayedit.config import InputSpec, SpecError


def decoded_images(spec: InputSpec, resolution: int, limit: int | None = None):
    """A Ray Dataset with ``key``, ``pixels`` (uint8 res x res x 3) and ``caption`` ('' if none) columns: the
    decodable images of ``spec`` (the edit pipeline's read and decode stages; undecodable images are dropped), at
    most ``limit`` rows."""
    import ray

    from rayedit.cluster.adapter import StagePlan, apply_stage
    from rayedit.stages.compose import Then
    from rayedit.stages.decode import DecodeImages
    from rayedit.stages.read import ReadShards
    from rayedit.storage.shards import plan_shards

    shards = plan_shards(spec)
    if not shards:
        raise SpecError(f"images.url {spec.url!r}: no input shards")
    ds = ray.data.from_items([s.to_row() for s in shards], override_num_blocks=len(shards))
    ds = apply_stage(ds, StagePlan("read_decode", lambda: Then(ReadShards(spec), DecodeImages(resolution)), 1,
                                   num_cpus=0.25, generator=True))

    def decodable(batch):
        from rayedit.stages.batch import ok_mask

        ok = ok_mask(batch)
        captions = np.asarray([c or "" for c in batch["caption"]], dtype=object)[ok].astype(str)
        return {"key": np.asarray(batch["key"])[ok].astype(str), "pixels": np.asarray(batch["pixels"])[ok],
                "caption": captions}

    ds = ds.map_batches(decodable, batch_format="numpy", num_cpus=0.25)
    return ds.limit(limit) if limit else ds
