"""Project edit targets onto the model's own images (SDEdit): noise each to t, then denoise it with DDIM.

An editor's outputs can hold what the frozen model never draws - an off-palette shade, halos at edges. Regressing
f_t onto such a target asks the edited trajectory for something the later, unedited steps will not keep. Noising a
target to a moderate t and running the model back down keeps its layout and replaces those details by the model's.
"""

from __future__ import annotations

import torch

from rayedit.diffusion.ddim import ddim_sample, grid_for
from rayedit.diffusion.guidance import add_noise


@torch.no_grad()
def project_onto_model(model, images: torch.Tensor, t: int, steps: int = 40, seed: int = 0, batch_size: int = 32,
                       spacing: str = "auto") -> torch.Tensor:
    """``images`` (N, C, H, W) in the model's DDIM space after noising to the largest grid timestep <= ``t``
    (x_t = sqrt(a) x + sqrt(1 - a) eps, DDPM Eq. 4; seeded) and deterministic DDIM back to 0 on the empty prompt."""
    grid = [s for s in grid_for(steps, model.alphas_cumprod, spacing) if s <= t]
    if not grid:
        raise ValueError(f"no timestep of the {steps}-step grid is <= t={t}")
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))
    alpha = float(model.alphas_cumprod[grid[-1]])
    out = []
    for s in range(0, images.shape[0], batch_size):
        x = images[s:s + batch_size].to(model.device)
        eps_fn = model.eps_fn(model.empty_prompt_context(x.shape[0]))
        x_t = add_noise(x, noise[s:s + batch_size].to(x), alpha)
        out.append(ddim_sample(eps_fn, x_t, grid, model.alphas_cumprod).to(images.device))
    return torch.cat(out)
