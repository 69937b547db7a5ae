"""Project edit targets onto the model's own images (SDEdit with the source's noise): noise each target to t with
the noise its source's DDIM inversion implies, then denoise it with DDIM.

An editor's outputs can hold what the frozen model never draws - an off-palette shade, halos at edges. Regressing
f_t onto such a target asks the edited trajectory for something the later, unedited steps will not keep. Noising a
target to a moderate t and running the model back down keeps its layout and replaces those details by the model's.
Taking the noise from the source's own inversion (not fresh random noise) makes the projection of an unchanged
target the source itself (DDIM inversion is exact up to discretisation), so only what the edit changed is
re-rendered, and no per-image random detail enters the regression targets.
"""

from __future__ import annotations

import torch

from rayedit.diffusion.ddim import ddim_invert, ddim_sample


@torch.no_grad()
def project_onto_model(model, targets: torch.Tensor, sources: torch.Tensor, t: int, steps: int = 40,
                       batch_size: int = 32, spacing: str = "auto") -> torch.Tensor:
    """``targets`` (N, C, H, W) in the model's DDIM space, projected at the largest grid timestep <= ``t``: with
    x^src_t the DDIM inversion of the matching ``sources`` row, x_t = x^src_t + sqrt(a_t) (target - source) (the
    target noised as in DDPM Eq. 4 with the source's implied noise), then deterministic DDIM back to 0 on the empty
    prompt. Row for row; batches of ``batch_size`` (the result does not depend on it)."""
    if sources.shape != targets.shape:
        raise ValueError(f"sources {tuple(sources.shape)} must match targets {tuple(targets.shape)} row for row")
    grid = [s for s in model.grid(steps, spacing) if s <= t]
    if not grid:
        raise ValueError(f"no timestep of the {steps}-step grid is <= t={t}")
    scale = float(model.alphas_cumprod[grid[-1]]) ** 0.5
    out = []
    for s in range(0, targets.shape[0], batch_size):
        y, x0 = targets[s:s + batch_size].to(model.device), sources[s:s + batch_size].to(model.device)
        eps_fn = model.eps_fn(model.empty_prompt_context(y.shape[0]))
        x_t = ddim_invert(eps_fn, x0, grid, model.alphas_cumprod) + scale * (y - x0)
        out.append(ddim_sample(eps_fn, x_t, grid, model.alphas_cumprod).to(targets.device))
    return torch.cat(out)
