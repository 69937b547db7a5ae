"""Measurements of toy-sd (the v2 world's Stable-Diffusion-layout pipeline), judged by the v2 oracle.

- ``vae``: encode (posterior mean) -> decode of held-out scenes: PSNR and the share whose every object and the
  background the oracle reads back exactly;
- ``text-to-image``: samples from prompts of 1, 2 and 3 objects at several CFG scales, through diffusers' own
  StableDiffusionPipeline: prompt match (every object's colour and shape, left to right, and the background);
- ``inversion``: DDIM inversion + reconstruction through the VAE and the latents with rayedit's own DDIM code:
  PSNR vs the source and the share of scenes the oracle reads identically.

Held-out scenes come from seed HELD_OUT_SEED, never used in training (the VAE trained on seed 11000, the U-Net on
12000, the VAE's progress history on 11999).
"""

from __future__ import annotations

import numpy as np
import torch

from rayedit.toy.edit_metrics import psnr
from rayedit.toy.scene_oracle import read_scene, reads_as
from rayedit.toy.scenes import Scene, scene_at

HELD_OUT_SEED = 31337


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


@torch.no_grad()
def vae_quality(vae, n: int = 256, seed: int = HELD_OUT_SEED, batch: int = 32) -> dict:
    """PSNR (median, 10th percentile) and oracle attributes kept over ``n`` held-out scenes through the VAE."""
    from rayedit.stages.model_output import to_model_range

    psnrs, kept = [], []
    for start in range(0, n, batch):
        scenes, imgs = zip(*(scene_at(seed, i) for i in range(start, min(n, start + batch))), strict=True)
        x = to_model_range(np.stack(imgs))
        rec = _to_uint8(vae.decode(vae.encode(x).latent_dist.mean).sample)
        for s, a, b in zip(scenes, imgs, rec, strict=True):
            psnrs.append(psnr(a, b))
            kept.append(reads_as(s, b))
    return {"n": n, "psnr_median": float(np.median(psnrs)), "psnr_p10": float(np.percentile(psnrs, 10)),
            "attributes_kept": float(np.mean(kept))}


def prompt_scenes(objects: int, n: int, seed: int = HELD_OUT_SEED) -> list[Scene]:
    """The first ``n`` held-out scenes with exactly ``objects`` objects: their captions are the prompts."""
    out, i = [], 0
    while len(out) < n:
        scene = scene_at(seed, i)[0]
        if len(scene.objects) == objects:
            out.append(scene)
        i += 1
    return out


def prompt_match(scene: Scene, img: np.ndarray) -> dict:
    """What a sample for ``scene.caption`` got right: colours and shapes left to right, background, all of it."""
    r = read_scene(img)
    drawn = [(o.colour, o.shape) for o in r.objects]
    asked = [(o.colour, o.shape) for o in scene.objects]
    objects_ok = drawn == asked
    colours_ok = sorted(str(c) for c, _ in drawn) == sorted(c for c, _ in asked)
    return {"valid": r.valid, "objects": objects_ok, "colours": colours_ok,
            "background": r.background == scene.background,
            "all": r.valid and objects_ok and r.background == scene.background}


@torch.no_grad()
def text_to_image(folder: str, cfgs=(3.0, 5.0, 7.5), per_count: int = 24, steps: int = 30, seed: int = 0,
                  batch: int = 24) -> list[dict]:
    """Prompt match of diffusers' StableDiffusionPipeline samples, per object count and CFG scale."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None, requires_safety_checker=False,
                                                   torch_dtype=torch.float32)  # a shipped float16 folder, on CPU
    pipe.set_progress_bar_config(disable=True)
    rows = []
    for count in (1, 2, 3):
        scenes = prompt_scenes(count, per_count)
        for cfg in cfgs:
            results = []
            for start in range(0, len(scenes), batch):
                part = scenes[start:start + batch]
                gen = torch.Generator().manual_seed(seed + start)
                imgs = pipe([s.caption for s in part], height=64, width=64, num_inference_steps=steps,
                            guidance_scale=cfg, generator=gen, output_type="np").images
                results += [prompt_match(s, (im * 255).round().astype(np.uint8)) for s, im in zip(part, imgs,
                                                                                                 strict=True)]
            rows.append({"n_objects": count, "cfg": cfg, "n": len(results),
                         **{k: float(np.mean([r[k] for r in results])) for k in results[0]}})
    return rows


@torch.no_grad()
def inversion_quality(folder: str, n: int = 64, steps=(20, 50), batch: int = 16,
                      prompt: str = "caption") -> list[dict]:
    """DDIM inversion + reconstruction of held-out scenes with rayedit's loader and DDIM code, conditioned on each
    scene's caption (``prompt='caption'``) or the empty prompt, CFG 1: PSNR vs the source and oracle kept."""
    from rayedit.config import ModelSpec
    from rayedit.diffusion.ddim import ddim_invert, ddim_sample
    from rayedit.models.load import load_diffusion
    from rayedit.stages.model_output import to_model_range

    model = load_diffusion(ModelSpec(name=folder), device="cpu")
    rows = []
    for s_steps in steps:
        psnrs, kept = [], []
        ts = model.grid(s_steps, "auto")
        for start in range(0, n, batch):
            scenes, imgs = zip(*(scene_at(HELD_OUT_SEED, i) for i in range(start, min(n, start + batch))),
                               strict=True)
            caps = [s.caption if prompt == "caption" else "" for s in scenes]
            cond = model.embed_prompts(caps)
            eps = model.eps_fn(cond)
            z0 = model.encode(to_model_range(np.stack(imgs)))
            zt = ddim_invert(eps, z0, ts, model.alphas_cumprod)
            rec = _to_uint8(model.decode(ddim_sample(eps, zt, ts, model.alphas_cumprod)))
            for sc, a, b in zip(scenes, imgs, rec, strict=True):
                psnrs.append(psnr(a, b))
                kept.append(reads_as(sc, b))
        rows.append({"steps": s_steps, "n": n, "prompt": prompt, "psnr_median": float(np.median(psnrs)),
                     "psnr_p10": float(np.percentile(psnrs, 10)), "attributes_kept": float(np.mean(kept))})
    return rows
