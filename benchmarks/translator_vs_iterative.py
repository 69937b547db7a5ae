"""Translator vs iterative editors: the same held-out toy images, edited by a trained DDS translator (one forward
pass), zero-shot DDS (``--dds-steps`` U-Net calls of 4 predictions per image) and DDIM reconstruction (the floor
of any inversion-based editor, e.g. Asyrp: 2 x ``--ddim-steps`` U-Net calls), timed side by side in one run.

    python benchmarks/translator_vs_iterative.py --translator DIR [--model toy-text-ddpm | toy-sd] [--n 64]
                                                 [--batch 16] [--dds-steps 50] [--ddim-steps 40] [--threads 2]

``--model toy-sd``: v2 scenes with a red object (held-out seed 31338), every editor timed from pixels to pixels
(VAE encode, edit in latent space, VAE decode), zero-shot DDS at toy-sd's settings (CFG 3, lr 0.1).

Prints seconds per image for each and the ratios to the translator. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # research/ (the toy images) lives beside benchmarks/


def seconds_per_image(edit, images, captions, batch: int) -> float:
    """Wall time per image of ``edit`` over ``images`` in batches (after one warm-up batch)."""
    from rayedit.stages.model_output import to_model_range

    x = to_model_range(images)
    edit(x[:batch], captions[:batch])
    start = time.perf_counter()
    for s in range(0, len(x), batch):
        edit(x[s:s + batch], captions[s:s + batch])
    return (time.perf_counter() - start) / len(x)


def pixel_to_pixel(model, edit):
    """``edit`` (DDIM space -> DDIM space) wrapped with the model's encode and decode (identity for pixel models)."""
    return lambda x, captions: model.decode(edit(model.encode(x), captions))


def toy_sd_scenes(n: int) -> tuple:
    """The first ``n`` held-out v2 scenes (seed 31338) with a red object and no blue one, and their captions."""
    from itertools import islice

    import numpy as np

    from rayedit.toy.edit_tasks import EditTask, task_samples

    picked = list(islice(task_samples(EditTask.parse("red->blue"), 31338), n))
    return np.stack([t.source_image for t in picked]), [t.source.caption for t in picked]


def main() -> None:
    import torch

    from rayedit.config import DDIMSpec, ModelSpec, ScoreDistillationSpec
    from rayedit.editors.dds.apply import TranslatorEditor
    from rayedit.editors.dds.translator import load_translator
    from rayedit.editors.dds.zero_shot import ScoreDistillationEditor
    from rayedit.editors.reconstruct import DDIMReconstruction
    from rayedit.models.load import load_diffusion
    from research.edit_eval import images_of_colour

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--translator", required=True, help="folder written by `rayedit train dds` on --model")
    p.add_argument("--model", choices=["toy-text-ddpm", "toy-sd"], default="toy-text-ddpm")
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--dds-steps", type=int, default=50)
    p.add_argument("--ddim-steps", type=int, default=40)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    translator, meta = load_translator(a.translator)
    text_model = load_diffusion(ModelSpec(name=a.model), device="cpu")
    if a.model == "toy-sd":
        images, captions = toy_sd_scenes(a.n)
        dds = ScoreDistillationSpec(replace={"red": "blue"}, steps=a.dds_steps, guidance_scale=3.0, lr=0.1)
        recon_model, recon_name = text_model, "toy-sd, caption-conditioned"
    else:
        images, captions = images_of_colour("red", a.n)
        dds = ScoreDistillationSpec(replace={"red": "blue"}, steps=a.dds_steps)
        recon_model, recon_name = load_diffusion(ModelSpec(name="toy-ddpm"), device="cpu"), "toy-ddpm"
    editors = {
        "translator (1 forward pass)": (text_model, TranslatorEditor(text_model, translator, 0)),
        f"zero-shot DDS ({a.dds_steps} steps)": (text_model, ScoreDistillationEditor(text_model, dds)),
        f"DDIM inversion + reconstruction ({a.ddim_steps} steps, {recon_name})": (
            recon_model, DDIMReconstruction(recon_model, DDIMSpec(steps=a.ddim_steps))),
    }
    editors = {name: pixel_to_pixel(model, edit) for name, (model, edit) in editors.items()}
    times = {name: seconds_per_image(e, images, captions, a.batch) for name, e in editors.items()}
    base = times["translator (1 forward pass)"]
    print(f"{a.n} images, batch {a.batch}, {a.threads} threads")
    for name, t in times.items():
        print(f"{name:<72s} {t * 1000:9.2f} ms/image  {t / base:8.1f}x the translator")


if __name__ == "__main__":
    main()
