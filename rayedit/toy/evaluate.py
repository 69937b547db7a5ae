"""Measured quality of the toy models: DDIM inversion PSNR and what the oracle reads in samples."""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch

from rayedit.diffusion.ddim import ddim_invert, ddim_sample, make_timesteps, resolve_spacing
from rayedit.models.diffusion import DiffusionModel
from rayedit.toy.generator import sample_at
from rayedit.toy.oracle import read_image

HELD_OUT_SEED = 777
"""Evaluation images come from a generator stream no training run uses."""


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


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
    ts = make_timesteps(steps, model.num_train_timesteps, spacing)
    eps = model.eps_fn()
    for start in range(0, n, batch):
        imgs = np.stack([sample_at(HELD_OUT_SEED, i)[1] for i in range(start, min(n, start + batch))])
        x0 = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1
        rec = _to_uint8(ddim_sample(eps, ddim_invert(eps, x0, ts, model.alphas_cumprod), ts, model.alphas_cumprod))
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
    ts = make_timesteps(steps, model.num_train_timesteps, resolve_spacing("auto", model.alphas_cumprod))
    g = torch.Generator().manual_seed(seed)
    readings = []
    for start in range(0, n, batch):
        k = min(batch, n - start)
        x = torch.randn(k, 3, model.resolution, model.resolution, generator=g)
        out = _to_uint8(ddim_sample(model.eps_fn(), x, ts, model.alphas_cumprod, eta=eta, generator=g))
        readings.extend(read_image(img) for img in out)
    valid = [r for r in readings if r.valid]
    return {"steps": steps, "eta": eta, "n": n, "valid_share": len(valid) / n,
            "colours": dict(Counter(r.colour for r in valid)), "shapes": dict(Counter(r.shape for r in valid)),
            "backgrounds": dict(Counter(r.background for r in valid))}
