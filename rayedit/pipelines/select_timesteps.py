"""``rayedit select-timesteps``: HQS over timesteps as a Ray job (images sharded across actors, partial sums reduced
on the driver), written as a JSON artifact and a PNG plot."""

from __future__ import annotations

import io
import time

import numpy as np
import torch

from rayedit.config import HQSSelectSpec, SpecError

ARTIFACT, PLOT = "hqs.json", "hqs.png"


def reduce_sums(rows: list[dict], timesteps: list[int]):
    """Merge the per-batch partial sums into one accumulator."""
    from rayedit.diffusion.hqs import HQSAccumulator

    total = HQSAccumulator(timesteps)
    for r in rows:
        part = HQSAccumulator(timesteps)
        part.n_sum = torch.tensor(np.array(r["n_sum"], dtype=np.float64))
        part.h_sum = torch.tensor(np.array(r["h_sum"], dtype=np.float64))
        part.count = int(r["count"])
        total = total.merge(part)
    return total


def plot_hqs(result: dict, path_or_buffer) -> None:
    """N^_t, 1 - H^_t and HQS_t over t, with the selected timesteps marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rayedit.diffusion.hqs import minmax

    ts = result["timesteps"]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=120)
    ax.plot(ts, minmax(torch.tensor(result["magnitude"])).tolist(), label="N^_t (magnitude)", lw=1)
    ax.plot(ts, (1 - minmax(torch.tensor(result["entropy"]))).tolist(), label="1 - H^_t (concentration)", lw=1)
    ax.plot(ts, result["hqs"], label="HQS_t", lw=2, color="k")
    for t in result["selected"]:
        ax.axvline(t, color="C3", ls=":", lw=1)
    if result["threshold"] is not None:
        ax.axhline(result["threshold"], color="C3", ls="--", lw=1, label=f"xi = {result['threshold']}")
    ax.set_xlabel("t")
    ax.set_ylabel("normalised score")
    ax.set_title(f"HQS for '{result['target']}' ({result['images']} images)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path_or_buffer, format="png")
    plt.close(fig)


def select_timesteps(spec: HQSSelectSpec, address: str | None = None) -> dict:
    """Score every candidate t over the sample images on an actor pool; write hqs.json + hqs.png; return the JSON."""
    from rayedit.cluster.adapter import StagePlan
    from rayedit.cluster.executor import decoded_images, through_stage
    from rayedit.cluster.runtime import init_ray
    from rayedit.diffusion.hqs import select
    from rayedit.models.layout import model_resolution, model_takes_text
    from rayedit.stages.hqs_sums import HQSPartialSums
    from rayedit.storage.artifacts import write_artifact

    if not model_takes_text(spec.model):
        raise SpecError(f"model.name {spec.model.name!r} takes no text; HQS scores text guidance")
    init_ray(address)
    start, res = time.time(), spec.resources
    args = (spec.model, spec.target, spec.source, spec.timesteps, spec.guidance_scale, spec.noise_samples, spec.seed,
            None, spec.replace)
    ds = decoded_images(spec.images, model_resolution(spec.model), spec.max_images)
    rows = through_stage(ds, StagePlan("hqs", lambda: HQSPartialSums(*args), res.batch_size, actors=res.actors,
                                       num_cpus=res.num_cpus, num_gpus=res.num_gpus))
    acc = reduce_sums(rows, spec.timesteps)
    if acc.count == 0:
        words = f" with a caption holding a word of replace ({', '.join(spec.replace)})" if spec.replace else ""
        raise SpecError(f"images.url {spec.images.url!r}: no decodable images{words}")
    result = acc.scores()
    try:
        selected = select(spec.timesteps, torch.tensor(result["hqs"]), spec.threshold)
    except ValueError as err:
        raise SpecError(f"threshold: {err}") from None
    result |= {"name": spec.name, "selected": selected, "threshold": spec.threshold, "images": acc.count,
               "model_id": spec.model.name, "target": spec.target, "source": spec.source,
               "replace": spec.replace,
               "gradient": "sds" if spec.source is None else "dds", "guidance_scale": spec.guidance_scale,
               "noise_samples": spec.noise_samples, "seed": spec.seed, "seconds": time.time() - start}
    buf = io.BytesIO()
    plot_hqs(result, buf)
    write_artifact(spec.output, {PLOT: buf.getvalue()}, ARTIFACT, result)
    return result
