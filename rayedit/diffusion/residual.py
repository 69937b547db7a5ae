"""The guidance residual of an edited image: how hard the diffusion model still pushes it towards its target caption
at the edit's timesteps (an edit that matches its caption gets a small, diffuse gradient; DDS paper Fig. 8).

residual = mean over t in S and noise draws of N_t = mean |grad_SDS(x_edit; y_tgt, t)|, the image-space gradient
HQS uses (SDD; docs/algorithms.md). Noise is seeded per sample key, so a score does not depend on batching.
"""

from __future__ import annotations

import torch

from rayedit.diffusion.hqs import magnitude
from rayedit.diffusion.image_gradient import timestep_sweep


@torch.no_grad()
def guidance_residual(model, pixels: torch.Tensor, targets: list[str], keys: list[str], timesteps: list[int],
                      guidance_scale: float, noise_samples: int = 1, seed: int = 0) -> torch.Tensor:
    """Per-image residual (B,) of ``pixels`` in [-1, 1] for their ``targets`` captions."""
    b = pixels.shape[0]
    x = pixels.to(model.device)
    cond = model.embed_prompts(targets)
    uncond = model.embed_prompts([""]).expand_as(cond)
    total = torch.zeros(b, dtype=torch.float64)
    for _, d in timestep_sweep(model, x, keys, timesteps, noise_samples, seed, cond, uncond, guidance_scale - 1.0):
        total += magnitude(d).double().cpu()
    return (total / (len(timesteps) * noise_samples)).float()
