"""The identity edit: DDIM inversion to x_T, then deterministic DDIM generation back (Asyrp Eq. 3-5).

It is the baseline every editor is measured against (its LPIPS is the floor an edit can reach) and the
place where editors plug in: an editor takes clean DDIM-space inputs and captions and returns outputs.
"""

from __future__ import annotations

import torch

from rayedit.config import DDIMSpec
from rayedit.diffusion.ddim import ddim_invert, ddim_sample
from rayedit.models.diffusion import DiffusionModel


class DDIMReconstruction:
    """Invert with S deterministic DDIM steps, then regenerate with the same grid (eta from the spec)."""

    name = "ddim-reconstruction"

    def __init__(self, model: DiffusionModel, spec: DDIMSpec, seed: int = 0):
        self.model = model
        self.spec = spec
        self.seed = seed
        self.timesteps = model.grid(spec.steps, spec.spacing)

    @torch.no_grad()
    def __call__(self, x0: torch.Tensor, captions: list[str]) -> torch.Tensor:
        m = self.model
        cond = uncond = None
        if m.conditional:
            prompts = [self.spec.prompt if self.spec.prompt is not None else c for c in captions]
            cond = m.embed_prompts(prompts)
            uncond = m.empty_prompt_context(len(prompts)) if self.spec.guidance_scale != 1.0 else None
        eps = m.eps_fn(cond, uncond, self.spec.guidance_scale)
        x_T = ddim_invert(eps, x0, self.timesteps, m.alphas_cumprod)
        gen = torch.Generator().manual_seed(self.seed)
        return ddim_sample(eps, x_T, self.timesteps, m.alphas_cumprod, eta=self.spec.eta, generator=gen)
