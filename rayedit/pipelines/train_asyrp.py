"""``rayedit train asyrp``: read sample images, find the editing intervals, train f_t as one Ray task, save it."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

import numpy as np
import torch

from rayedit.config import AsyrpTrainSpec, InputSpec, SpecError


def _samples(spec: InputSpec) -> Iterator[dict]:
    """Raw (undecoded) sample batches of an input, shard by shard; end-of-shard rows included."""
    from rayedit.rows import obj_array
    from rayedit.stages.read import ReadShards
    from rayedit.storage.shards import plan_shards

    reader = ReadShards(spec)
    for shard in plan_shards(spec):
        yield from reader({k: obj_array([v]) for k, v in shard.to_row().items()})


def _keyed_images(spec: InputSpec, resolution: int,
                  only: set[str] | None = None) -> Iterator[tuple[str, np.ndarray]]:
    """(key, uint8 (res, res, 3) pixels) of every decodable image of an input (only those keyed in ``only`` when
    given, the rest not decoded), in order; undecodable ones skipped."""
    from rayedit.rows import ok_mask
    from rayedit.stages.decode import DecodeImages

    decode = DecodeImages(resolution, spec.resize)
    for batch in _samples(spec):
        if only is not None:
            keep = np.asarray([str(k) in only for k in batch["key"]], bool)
            batch = {c: v[keep] for c, v in batch.items()}
        batch = decode(batch)
        ok = ok_mask(batch)
        yield from zip((str(k) for k in np.asarray(batch["key"])[ok]), batch["pixels"][ok], strict=True)


def _keys(spec: InputSpec) -> set[str]:
    """The keys of an input's samples, read without decoding any image."""
    from rayedit.rows import ok_mask

    return {str(k) for batch in _samples(spec) for k in np.asarray(batch["key"])[ok_mask(batch)]}


def read_images(spec: InputSpec, resolution: int, limit: int) -> np.ndarray:
    """The first ``limit`` decodable images of an input, uint8 (N, res, res, 3); undecodable ones are skipped."""
    out = [px for _, px in islice(_keyed_images(spec, resolution), limit)]
    if not out:
        raise SpecError(f"images.url {spec.url!r}: no decodable images")
    return np.stack(out)


def read_pairs(sources: InputSpec, targets: InputSpec, resolution: int,
               limit: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The first ``limit`` decodable source images that have a decodable target under the same key, both uint8
    (N, res, res, 3) row for row, and how many source images were passed over for lack of one (an edit job's output
    lacks the samples it filtered or failed). Only the matching targets are decoded and held."""
    target_keys = _keys(targets)
    src: dict[str, np.ndarray] = {}
    unpaired = 0
    for key, px in _keyed_images(sources, resolution):
        if len(src) >= limit:
            break
        if key in target_keys:
            src[key] = px
        else:
            unpaired += 1
    tgt = dict(_keyed_images(targets, resolution, only=set(src)))
    keys = [k for k in src if k in tgt]
    unpaired += len(src) - len(keys)  # targets that did not decode
    if not keys:
        raise SpecError(f"no image of images.url {sources.url!r} has a decodable image under the same key in "
                        f"paired_targets.url {targets.url!r} ({len(target_keys)} target samples read)")
    return np.stack([src[k] for k in keys]), np.stack([tgt[k] for k in keys]), unpaired


def training_images(spec: AsyrpTrainSpec, model) -> torch.Tensor:
    """Images in DDIM space: read from ``spec.images``, or generated from noise when it is null."""
    from rayedit.editors.asyrp.train import sample_images

    if spec.images is None:
        return sample_images(model, spec.max_images, spec.steps, seed=spec.seed)
    return _read_encoded(spec.images, spec.max_images, model)


def _encoded(pixels: np.ndarray, model) -> torch.Tensor:
    """uint8 images in the model's DDIM space."""
    from rayedit.stages.model_output import to_model_range

    return model.encode(to_model_range(pixels).to(model.device))


def _projected(model, targets: np.ndarray, sources: torch.Tensor, spec: AsyrpTrainSpec) -> np.ndarray:
    """uint8 targets projected onto the model's own images with the noise of their ``sources`` (already in DDIM
    space; :func:`project_onto_model` at ``paired_project_t``)."""
    from rayedit.editors.asyrp.pair_projection import project_onto_model
    from rayedit.stages.model_output import to_uint8

    projected = project_onto_model(model, _encoded(targets, model), sources, spec.paired_project_t, spec.steps,
                                   spec.batch_size * 4, spec.spacing)
    return to_uint8(model.decode(projected))


def _read_encoded(spec: InputSpec, limit: int, model) -> torch.Tensor:
    """The first ``limit`` decodable images of an input, in the model's DDIM space."""
    return _encoded(read_images(spec, model.resolution, limit), model)


def _models(spec: AsyrpTrainSpec):
    """What training and the curves both need: the fp32 model, CLIP, and the grid."""
    from rayedit.models.clip import load_clip
    from rayedit.models.load import load_diffusion, pick_device

    device = pick_device()
    model = load_diffusion(spec.model.model_copy(update={"dtype": "float32"}), device=device, seed=spec.seed)
    clip = load_clip(spec.clip.model, spec.clip.pretrained, device=device)
    return model, clip, model.grid(spec.steps, spec.spacing)


def _split(images: torch.Tensor, targets: torch.Tensor, held: int) -> tuple[torch.Tensor, torch.Tensor, tuple]:
    """(training sources, training targets, (held-out sources, held-out targets)): the last ``held`` pairs."""
    if held >= images.shape[0]:
        raise SpecError(f"paired_validation holds out {held} pairs but only {images.shape[0]} were read: none would "
                        "be left to train on")
    return images[:-held], targets[:-held], (images[-held:], targets[-held:])


def _validate_strength(model, delta, held: tuple[torch.Tensor, torch.Tensor], spec: AsyrpTrainSpec, t_edit: int,
                       progress: bool) -> dict:
    """The held-out pairs' error per strength and the best strength (:mod:`rayedit.editors.asyrp.strength`)."""
    from rayedit.editors.asyrp.strength import best_strength, strength_errors

    sources, targets = held
    errors = strength_errors(model, delta, sources, targets, spec.steps, t_edit, spec.t_max, spec.spacing,
                             spec.batch_size * 2, progress=progress)
    return {"pairs": int(sources.shape[0]), "strength": best_strength(errors),
            "mse_by_strength": {str(c): e for c, e in errors.items()}}


def intervals(spec: AsyrpTrainSpec, model, clip, images: torch.Tensor, ts: list[int]) -> dict:
    """t_edit / t_boost: from the spec when given, else from LPIPS curves over ``curve_images`` images."""
    from rayedit.editors.asyrp.intervals import boost_interval_start, edit_interval_start, lpips_curves
    from rayedit.editors.asyrp.losses import text_direction
    from rayedit.models.perceptual import load_lpips

    out = {"t_edit": spec.t_edit, "t_boost": spec.t_boost, "curves": None}
    if spec.t_edit is not None and spec.t_boost is not None:
        return out
    lp = load_lpips(spec.lpips.net, spec.lpips.random_backbone, device=str(model.device))
    curves = lpips_curves(model, lp, images[: spec.curve_images], ts)
    _, cosine = text_direction(clip, spec.source, spec.target)
    if out["t_edit"] is None:
        out["t_edit"] = edit_interval_start(curves, cosine)
    if out["t_boost"] is None:
        out["t_boost"] = boost_interval_start(curves)
    out["curves"] = {"timesteps": curves.timesteps, "lpips_x_predicted_x0": curves.to_predicted_x0,
                     "lpips_x_noisy": curves.to_noisy, "lpips_random_backbone": spec.lpips.random_backbone}
    return out


def train_asyrp_local(spec: AsyrpTrainSpec, progress: bool = True) -> dict:
    """The whole training run in this process (what the Ray task executes); returns the saved metadata."""
    from rayedit.editors.asyrp.artifact import save_direction
    from rayedit.editors.asyrp.delta import h_space_shape
    from rayedit.editors.asyrp.pair_mask import keep_changed
    from rayedit.editors.asyrp.train import AsyrpTrainSettings, mean_deltas, train_direction
    from rayedit.models.weights import model_hash

    model, clip, ts = _models(spec)
    try:  # before any image is read
        h_space_shape(model.unet, spec.h_space)
    except ValueError as e:
        raise SpecError(f"{spec.model.name}: {e}") from None
    paired, unpaired, kept, held = None, 0, None, None  # held: pairs held out to pick the strength
    if spec.paired_targets is not None:  # the sources are read once, matched to their targets by key
        src, tgt, unpaired = read_pairs(spec.images, spec.paired_targets, model.resolution, spec.max_images)
        images = _encoded(src, model)
        if spec.paired_project_t is not None:
            tgt = _projected(model, tgt, images, spec)
        if spec.paired_change_threshold is not None:
            tgt, kept = keep_changed(src, tgt, spec.paired_change_threshold)
        paired = _encoded(tgt, model)
        if spec.paired_validation:
            images, paired, held = _split(images, paired, spec.paired_validation)
    else:
        images = training_images(spec, model)
    found = intervals(spec, model, clip, images, ts)
    settings = AsyrpTrainSettings(
        steps=spec.steps, t_edit=found["t_edit"], lambda_clip=spec.lambda_clip, lambda_recon=spec.lambda_recon,
        lr=spec.lr, optimizer=spec.optimizer, epochs=spec.epochs, batch_size=spec.batch_size, spacing=spec.spacing,
        zero_init=spec.zero_init, seed=spec.seed, arch=spec.arch, t_max=spec.t_max,
        lr_schedule=spec.lr_schedule, h_space=spec.h_space)
    reverse = None if spec.target_images is None else _read_encoded(spec.target_images, spec.max_images, model)
    delta, info = train_direction(model, clip, images, spec.source, spec.target, settings, progress=progress,
                                  target_images=reverse, paired_targets=paired, reverse_pairs=spec.paired_reverse)
    validation = None if held is None else _validate_strength(model, delta, held, spec, found["t_edit"], progress)
    mean_ts, mean_dh = mean_deltas(model, delta, images, spec.steps, found["t_edit"], spec.spacing,
                                   spec.batch_size, spec.t_max)
    meta = {
        "kind": "asyrp-direction", "name": spec.name, "source": spec.source, "target": spec.target,
        "model_id": spec.model.name, "model_hash": model_hash(model.unet), "clip": spec.clip.model,
        "steps": spec.steps, "spacing": spec.spacing, "t_edit": found["t_edit"], "t_boost": found["t_boost"],
        "t_max": spec.t_max, "paired_targets": None if spec.paired_targets is None else spec.paired_targets.url,
        "unpaired_images_skipped": unpaired, "paired_changed_share": kept,
        "strength": None if validation is None else validation["strength"], "strength_validation": validation,
        "interval_curves": found["curves"], "training_images": "random noise" if spec.images is None else
        spec.images.url, "reverse_images": None if spec.target_images is None else spec.target_images.url,
        "settings": spec.model_dump(mode="json", exclude={"images", "target_images", "paired_targets", "output"}),
        **info,
        "mean_dh_timesteps": mean_ts, **delta.arch_meta(),
    }
    save_direction(spec.output, delta, meta, mean_dh)
    return meta


def train_asyrp(spec: AsyrpTrainSpec, address: str | None = None, progress: bool = True) -> dict:
    """Run :func:`train_asyrp_local` as one Ray task with the spec's resources (a GPU when asked for)."""
    from rayedit.cluster.executor import run_task
    from rayedit.cluster.runtime import init_ray

    init_ray(address)
    res = spec.resources
    return run_task(train_asyrp_local, spec, progress, num_cpus=res.num_cpus, num_gpus=res.num_gpus)


def asyrp_curves(spec: AsyrpTrainSpec, png: str | None = None) -> dict:
    """LPIPS curves and the intervals they give for a training spec (in this process); optionally a PNG."""
    from rayedit.editors.asyrp.intervals import LpipsCurves, edit_threshold
    from rayedit.editors.asyrp.losses import text_direction
    from rayedit.editors.asyrp.plot import plot_curves

    model, clip, ts = _models(spec)
    images = training_images(spec.model_copy(update={"max_images": spec.curve_images}), model)
    found = intervals(spec.model_copy(update={"t_edit": None, "t_boost": None}), model, clip, images, ts)
    _, cosine = text_direction(clip, spec.source, spec.target)
    found["edit_threshold"] = edit_threshold(cosine)
    found["text_cosine"] = cosine
    if png:
        c = found["curves"]
        label = "LPIPS (random backbone)" if spec.lpips.random_backbone else f"LPIPS-{spec.lpips.net}"
        plot_curves(LpipsCurves(c["timesteps"], c["lpips_x_predicted_x0"], c["lpips_x_noisy"]), found["t_edit"],
                    found["t_boost"], found["edit_threshold"], png, label)
    return found
