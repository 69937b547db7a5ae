"""Measured quality of the toy models: DDIM inversion PSNR, what the oracle reads in samples, CLIP zero-shot
accuracy, and how often the text-conditioned model draws what its prompt asks for."""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch

from rayedit.diffusion.ddim import ddim_invert, ddim_sample, predicted_x0, resolve_spacing
from rayedit.diffusion.guidance import add_noise
from rayedit.models.diffusion import DiffusionModel
from rayedit.stages.model_output import to_model_range, to_uint8
from rayedit.toy.generator import BACKGROUNDS, COLOURS, SHAPES, ToySample, sample_at
from rayedit.toy.oracle import read_image

HELD_OUT_SEED = 777
"""Evaluation images come from a generator stream no training run uses."""


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images, in dB."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


@torch.no_grad()
def inversion_quality(model: DiffusionModel, n: int = 64, steps: int = 40, batch: int = 32,
                      spacing: str = "auto") -> dict:
    """Invert held-out generator images with S-step DDIM and regenerate them: PSNR and oracle agreement."""
    ps, kept = [], 0
    spacing = resolve_spacing(spacing, model.alphas_cumprod)
    ts = model.grid(steps, spacing)
    eps = model.eps_fn()
    for start in range(0, n, batch):
        imgs = np.stack([sample_at(HELD_OUT_SEED, i)[1] for i in range(start, min(n, start + batch))])
        x0 = to_model_range(imgs)
        rec = to_uint8(ddim_sample(eps, ddim_invert(eps, x0, ts, model.alphas_cumprod), ts, model.alphas_cumprod))
        for a, b in zip(imgs, rec, strict=True):
            ps.append(psnr(a, b))
            ra, rb = read_image(a), read_image(b)
            kept += rb.valid and (ra.colour, ra.shape, ra.background) == (rb.colour, rb.shape, rb.background)
    return {"steps": steps, "spacing": spacing, "n": n, "psnr_median": float(np.median(ps)),
            "psnr_p10": float(np.percentile(ps, 10)), "oracle_attributes_kept": kept / n}


@torch.no_grad()
def sample_quality(model: DiffusionModel, n: int = 128, steps: int = 50, eta: float = 0.0, seed: int = 0,
                   batch: int = 64) -> dict:
    """Generate from noise; the share the oracle reads as one clean shape, and the colour/shape distributions."""
    ts = model.grid(steps)
    g = torch.Generator().manual_seed(seed)
    readings = []
    for start in range(0, n, batch):
        k = min(batch, n - start)
        x = torch.randn(k, 3, model.resolution, model.resolution, generator=g)
        out = to_uint8(ddim_sample(model.eps_fn(), x, ts, model.alphas_cumprod, eta=eta, generator=g))
        readings.extend(read_image(img) for img in out)
    valid = [r for r in readings if r.valid]
    return {"steps": steps, "eta": eta, "n": n, "valid_share": len(valid) / n,
            "colours": dict(Counter(r.colour for r in valid)), "shapes": dict(Counter(r.shape for r in valid)),
            "backgrounds": dict(Counter(r.background for r in valid))}


@torch.no_grad()
def denoised_shape_kept(model: DiffusionModel, timesteps: tuple[int, ...] = (200, 400, 600), n: int = 192,
                        seed: int = 0) -> dict:
    """Noise held-out images to each t, predict x0 in one step: per t and shape, the share whose oracle shape is
    still the source's. A probe of the model's shape knowledge where DDIM sampling decides the shape."""
    samples, imgs = held_out_images(n)
    x0 = to_model_range(imgs)
    g, eps, out = torch.Generator().manual_seed(seed), model.eps_fn(), {}
    for t in timesteps:
        a_t = float(model.alphas_cumprod[t])
        xt = add_noise(x0, torch.randn(x0.shape, generator=g), a_t)
        pred = to_uint8(predicted_x0(xt, eps(xt, t), a_t))
        kept = {shape: [] for shape in SHAPES}
        for s, img in zip(samples, pred, strict=True):
            kept[s.shape].append(read_image(img).shape == s.shape)
        out[str(t)] = {shape: float(np.mean(v)) for shape, v in kept.items() if v}
    return {"n": n, "shape_kept": out}


def held_out_images(n: int, start: int = 0) -> tuple[list[ToySample], np.ndarray]:
    """``n`` held-out generator samples and their uint8 images (N, 32, 32, 3)."""
    pairs = [sample_at(HELD_OUT_SEED, i) for i in range(start, start + n)]
    return [p[0] for p in pairs], np.stack([p[1] for p in pairs])


def _class_embeddings(clip, classes: list[str], prompts) -> torch.Tensor:
    """One text embedding per class: the normalised mean over prompt templates (prompt ensembling)."""
    embs = [torch.nn.functional.normalize(clip.embed_texts(prompts(c)).mean(0), dim=-1) for c in classes]
    return torch.stack(embs)


@torch.no_grad()
def clip_zero_shot(clip, n: int = 512) -> dict:
    """Zero-shot accuracy of a CLIP on held-out images: colour, shape, background and the exact caption."""
    samples, imgs = held_out_images(n)
    img = clip.embed_images(torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255)
    full = [ToySample(c, s, b, 0, 0, 0).caption for c in COLOURS for s in SHAPES for b in BACKGROUNDS]
    heads = {
        "colour": (list(COLOURS), lambda c: [f"a {c} {s} on a {b} background" for s in SHAPES for b in BACKGROUNDS]
                   + [f"a {c} {s}" for s in SHAPES]),
        "shape": (list(SHAPES), lambda s: [f"a {c} {s} on a {b} background" for c in COLOURS for b in BACKGROUNDS]
                  + [f"a {c} {s}" for c in COLOURS]),
        "background": (list(BACKGROUNDS), lambda b: [f"a {c} {s} on a {b} background" for c in COLOURS
                                                     for s in SHAPES]),
        "caption": (full, lambda cap: [cap]),
    }
    out = {"n": n}
    for head, (classes, prompts) in heads.items():
        pred = (img @ _class_embeddings(clip, classes, prompts).T).argmax(1).tolist()
        truth = [s.caption if head == "caption" else getattr(s, head) for s in samples]
        out[f"{head}_accuracy"] = float(np.mean([classes[k] == t for k, t in zip(pred, truth, strict=True)]))
    return out


@torch.no_grad()
def prompt_match(model: DiffusionModel, guidance_scale: float, n: int = 72, steps: int = 50, seed: int = 0,
                 batch: int = 36) -> dict:
    """Sample the text-conditioned model on every full toy caption in turn (DDIM, eta 0, CFG ``guidance_scale``):
    the share of samples whose oracle colour and shape (and background) match the prompt."""
    captions = [ToySample(c, s, b, 0, 0, 0) for c in COLOURS for s in SHAPES for b in BACKGROUNDS]
    ts = model.grid(steps)
    g = torch.Generator().manual_seed(seed)
    valid = match = match_bg = colour_ok = shape_ok = 0
    for start in range(0, n, batch):
        want = [captions[i % len(captions)] for i in range(start, min(n, start + batch))]
        cond = model.embed_prompts([w.caption for w in want])
        uncond = model.empty_prompt_context(len(want))
        x = torch.randn(len(want), 3, model.resolution, model.resolution, generator=g)
        out = to_uint8(ddim_sample(model.eps_fn(cond, uncond, guidance_scale), x, ts, model.alphas_cumprod))
        for w, img in zip(want, out, strict=True):
            r = read_image(img)
            valid += r.valid
            colour_ok += r.valid and r.colour == w.colour
            shape_ok += r.valid and r.shape == w.shape
            ok = r.valid and (r.colour, r.shape) == (w.colour, w.shape)
            match += ok
            match_bg += ok and r.background == w.background
    return {"guidance_scale": guidance_scale, "steps": steps, "n": n, "valid_share": valid / n,
            "colour_match": colour_ok / n, "shape_match": shape_ok / n,
            "colour_and_shape_match": match / n, "colour_shape_background_match": match_bg / n}
