"""``rayedit train dds``: a multi-task DDS translator trained data-parallel with Ray Train over a Ray Dataset.

Each worker holds the frozen diffusion model and a translator replica (DDP when there are several workers), reads
its split of the source images, and reports metrics every ``checkpoint_every`` steps with a checkpoint (translator,
optimizer, step) to ``output``/checkpoints. Rerunning the same spec resumes from the latest checkpoint.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import torch

from rayedit import events
from rayedit.config import DDSTrainSpec, SpecError

STATE, OPTIMIZER, PROGRESS = "translator.safetensors", "optimizer.pt", "progress.json"


def checkpoint_storage(url: str) -> tuple[str, object | None]:
    """(storage_path, pyarrow filesystem or None) for Ray Train's checkpoints under ``url``/checkpoints."""
    import fsspec
    import pyarrow.fs

    fs, root = fsspec.core.url_to_fs(url)
    if getattr(fs, "protocol", None) in ("file", ("file", "local")) or type(fs).__name__ == "LocalFileSystem":
        return str(Path(root).resolve() / "checkpoints"), None
    return f"{root}/checkpoints", pyarrow.fs.PyFileSystem(pyarrow.fs.FSSpecHandler(fs))


def _save_checkpoint(folder: str, translator, opt, step: int, history: list[dict]) -> None:
    from safetensors.torch import save_file

    save_file({k: v.detach().cpu().contiguous() for k, v in translator.state_dict().items()}, f"{folder}/{STATE}")
    torch.save(opt.state_dict(), f"{folder}/{OPTIMIZER}")
    Path(folder, PROGRESS).write_text(json.dumps({"step": step, "history": history}))


def _load_checkpoint(folder: str, translator, opt) -> tuple[int, list[dict]]:
    from safetensors.torch import load_file

    translator.load_state_dict(load_file(f"{folder}/{STATE}"))
    opt.load_state_dict(torch.load(f"{folder}/{OPTIMIZER}", map_location="cpu", weights_only=True))
    progress = json.loads(Path(folder, PROGRESS).read_text())
    return progress["step"], progress["history"]


def sample_grid(model, translator, x_src: torch.Tensor) -> np.ndarray:
    """uint8 grid: the source row, then one row per task (pixels decoded from DDIM space)."""
    from rayedit.stages.model_output import to_uint8

    rows = [to_uint8(model.decode(x_src))]
    with torch.no_grad():
        for k in range(translator.num_tasks):
            task = torch.full((x_src.shape[0],), k, dtype=torch.long, device=x_src.device)
            rows.append(to_uint8(model.decode(translator(x_src, task))))
    return np.concatenate([np.concatenate(list(r), axis=1) for r in rows], axis=0)


def _write_png(url: str, grid: np.ndarray) -> None:
    from PIL import Image

    from rayedit.storage.artifacts import write_file

    buf = io.BytesIO()
    Image.fromarray(grid).save(buf, format="PNG")
    write_file(url, buf.getvalue())


def training_timesteps(spec: DDSTrainSpec) -> tuple[int, int] | list[int]:
    """(t_min, t_max), or the HQS-selected set of ``spec.hqs`` (re-selected with ``hqs_threshold`` when given)."""
    if spec.hqs is None:
        return (spec.t_min, spec.t_max)
    from rayedit.diffusion.hqs import select
    from rayedit.storage.fs import filesystem

    try:
        curve = json.loads(filesystem(spec.hqs).cat_file(spec.hqs))
    except (OSError, ValueError) as err:
        raise SpecError(f"hqs: cannot read {spec.hqs!r} ({type(err).__name__}: {err}); make it with "
                        "`rayedit select-timesteps`") from None
    if spec.hqs_threshold is None:
        return list(curve["selected"])
    try:
        return select(curve["timesteps"], torch.tensor(curve["hqs"]), spec.hqs_threshold)
    except ValueError as err:
        raise SpecError(f"hqs_threshold: {err}") from None


def train_loop(config: dict) -> None:
    """One Ray Train worker: DDS + lambda_ID * identity on its split of the images (DDS paper section 4)."""
    from rayedit.cluster import train_worker
    from rayedit.editors.dds.objective import (
        PerImageConditions,
        TaskConditions,
        cosine_decay,
        translator_loss,
        warmup,
    )
    from rayedit.editors.dds.translator import build_translator
    from rayedit.models.load import load_diffusion
    from rayedit.stages.model_output import to_model_range

    spec = DDSTrainSpec.model_validate(config["spec"])
    worker = train_worker.Worker.current()
    rank, device = worker.rank, worker.device
    torch.set_num_threads(max(1, int(spec.resources.num_cpus)))
    model = load_diffusion(spec.model.model_copy(update={"dtype": "float32"}), device=str(device), seed=spec.seed)
    conds = TaskConditions.encode(model, spec.targets, spec.source)
    per_image = PerImageConditions(model, conds, spec.replace) if spec.replace else None
    timesteps = training_timesteps(spec)
    translator = build_translator(model, spec.targets, spec.init, tuple(spec.widths), spec.seed).to(device)
    opt = torch.optim.AdamW(translator.parameters(), lr=spec.lr, weight_decay=0.0)
    step, history = 0, []
    resumed = train_worker.resume_folder(lambda folder: _load_checkpoint(folder, translator, opt))
    if resumed is not None:
        step, history = resumed
    trained = train_worker.data_parallel(translator)
    gen = torch.Generator().manual_seed(spec.seed * 1000 + rank * 7919 + step)
    bar = (train_worker.progress_bar(spec.steps, step, f"train dds {spec.name}")
           if rank == 0 and config.get("progress") else None)
    fixed, window, start = None, [], time.time()
    while step < spec.steps:
        batches = 0
        for batch in train_worker.image_batches(spec.batch_size):
            batches += 1
            x_src = model.encode(to_model_range(batch["pixels"]).to(device))
            fixed = x_src[:8] if fixed is None else fixed
            task = torch.randint(0, len(spec.targets), (x_src.shape[0],), generator=gen).to(device)
            scale = warmup(step, spec.guidance.start, spec.guidance.end, spec.guidance.steps)
            lam = cosine_decay(step, spec.identity.start, spec.identity.end, spec.identity.steps or spec.steps)
            pair = (per_image.pairs(task, list(batch["caption"])) if per_image is not None
                    else conds.pairs(task))
            loss, parts = translator_loss(model, trained(x_src, task), x_src, pair, conds.uncond, scale, lam,
                                          timesteps, gen, spec.loss, spec.identity.norm)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            window.append(parts)
            if bar is not None:
                bar.update(1)
            if rank == 0 and spec.sample_every and step % spec.sample_every == 0:
                _write_png(f"{spec.output}/samples/step-{step:06d}.png", sample_grid(model, translator, fixed))
            if step % spec.checkpoint_every == 0 or step == spec.steps:
                metrics = {"step": step, "minutes": (time.time() - start) / 60,
                           **{k: float(np.mean([w[k] for w in window])) for k in window[0]}}
                history.append(metrics)
                window = []
                train_worker.report(metrics, rank, lambda folder, done=step: _save_checkpoint(
                    folder, translator, opt, done, history))
            if step >= spec.steps:
                break
        if batches == 0:
            raise SpecError(f"a training worker got fewer than batch_size={spec.batch_size} images; use more images, "
                            "fewer workers or a smaller batch_size")
    if rank == 0:
        _save_final(spec, model, translator, history, fixed)


def _describe(timesteps: tuple[int, int] | list[int]) -> dict:
    return {"uniform": list(timesteps)} if isinstance(timesteps, tuple) else {"hqs_set": list(timesteps)}


def _save_final(spec: DDSTrainSpec, model, translator, history: list[dict], fixed) -> None:
    from rayedit.editors.dds.translator import save_translator
    from rayedit.models.weights import latent_space_hash, model_hash

    if fixed is not None:
        _write_png(f"{spec.output}/samples/final.png", sample_grid(model, translator, fixed))
    meta = {"name": spec.name, "source": spec.source, "targets": spec.targets, "model_id": spec.model.name,
            "model_hash": model_hash(model.unet), "latent_hash": latent_space_hash(model), "init": spec.init,
            "loss": spec.loss,
            "timesteps": _describe(training_timesteps(spec)),
            "settings": spec.model_dump(mode="json", exclude={"images", "output"}), "history": history}
    save_translator(spec.output, translator, meta)


def with_absolute_paths(spec: DDSTrainSpec) -> DDSTrainSpec:
    """The spec with its local paths (output, hqs, a model folder) made absolute: Ray Train runs ``train_loop`` in
    a working directory of its own, where a relative path would point elsewhere."""
    from rayedit.models.layout import is_local_folder
    from rayedit.storage.fs import absolute_local

    update = {"output": absolute_local(spec.output)}
    if spec.hqs is not None:
        update["hqs"] = absolute_local(spec.hqs)
    if is_local_folder(spec.model.name):
        update["model"] = spec.model.model_copy(update={"name": absolute_local(spec.model.name)})
    return spec.model_copy(update=update)


def check_workers_fit(res, cluster: dict[str, float], strict: bool) -> None:
    """Workers plus the data-reading tasks (a quarter CPU) must fit the cluster, or training waits forever: an error
    on a fixed local cluster, a warning on a remote one (which may autoscale)."""
    need = {"CPU": res.workers * res.num_cpus + 0.25, "GPU": res.workers * res.num_gpus}
    short = [f"{need[k]:g} {k}s (have {cluster.get(k, 0):g})" for k in need if need[k] > cluster.get(k, 0)]
    if not short:
        return
    msg = (f"resources: {res.workers} training workers and the image readers need " + ", ".join(short) +
           "; lower resources.workers, resources.num_cpus or resources.num_gpus")
    if strict:
        raise SpecError(msg)
    events.warn(f"{msg} (waiting for the cluster to scale up)")


def train_dds(spec: DDSTrainSpec, address: str | None = None, progress: bool = True) -> dict:
    """Fit the translator with a Ray Train TorchTrainer (resuming from ``output``/checkpoints); returns its meta."""

    from rayedit.cluster import executor
    from rayedit.cluster.runtime import init_ray
    from rayedit.editors.artifact_meta import read_translator_meta
    from rayedit.models.layout import model_resolution, model_takes_text

    if not model_takes_text(spec.model):
        raise SpecError(f"model.name {spec.model.name!r} takes no text; a DDS translator needs a text-conditioned "
                        "model (e.g. toy-text-ddpm or a Stable Diffusion checkpoint)")
    training_timesteps(spec)  # a missing or unusable HQS file fails here, before any worker starts
    spec = with_absolute_paths(spec)
    init_ray(address, state_api=True)  # Ray Train's placement-group cleaner polls the State API
    res = spec.resources
    check_workers_fit(res, executor.cluster_resources(), strict=address is None)
    storage_path, storage_fs = checkpoint_storage(spec.output)
    images = executor.decoded_images(spec.images, model_resolution(spec.model), spec.max_images)
    executor.fit_torch(train_loop, {"spec": spec.model_dump(mode="json"), "progress": progress}, spec.name, images,
                       res.workers, res.num_cpus, res.num_gpus, storage_path, storage_fs)
    return read_translator_meta(spec.output)
