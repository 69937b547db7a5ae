"""Zero-shot score-distillation editing: each image follows the DDS (or SDS) gradient for a number of SGD steps."""

from __future__ import annotations

import torch

from rayedit.config import ScoreDistillationSpec
from rayedit.diffusion.guidance import dds_gradient, sds_gradient
from rayedit.editors.captions import target_captions
from rayedit.models.errors import ModelLoadError

REFERENCE_CELLS = 64 * 64
"""Latent cells (H x W) of Stable Diffusion 1.5 at 512 px, where the authors' notebook scales its SGD step by
2000 / (H x W). rayedit takes that factor at this size for every input, so ``lr`` is the same step per latent
element on any model and resolution (the notebook's factor at 16 x 16 latents is a 16x larger step)."""


class ScoreDistillationEditor:
    """Optimise z (initialised at the source z^) with grad_DDS = eps^w(z_t, y_tgt) - eps^w(z^_t, y_src) (DDS Eq. 3),
    or grad_SDS = eps^w(z_t, y_tgt) - eps (DDS Eq. 1). Per step and image: t ~ U{t_min..t_max-1} and one noise,
    shared by both branches. ``seed`` makes t and the noise reproducible per batch."""

    def __init__(self, model, spec: ScoreDistillationSpec, seed: int = 0):
        if not model.conditional:
            raise ModelLoadError(f"the {spec.loss.upper()} editor needs a text-conditioned model; "
                                 f"{model.model_id!r} takes no text")
        self.model, self.spec, self.seed = model, spec, seed
        self.name = spec.loss

    def captions(self, captions: list[str]) -> tuple[list[str], list[str]]:
        """(source, target) caption of every sample."""
        sources = [self.spec.source_caption if self.spec.source_caption is not None else c for c in captions]
        return sources, target_captions(sources, self.spec.target_caption, self.spec.replace)

    def why_not(self, captions: list[str]) -> list[str]:
        """Per sample, why the edit cannot be made ('' when it can): a target caption that is empty, or equal to the
        source caption (a sample without a caption, or without any word of ``replace``) - the edit would do nothing
        and must not be counted as edited."""
        sources, targets = self.captions(captions)
        reasons = []
        for src, tgt in zip(sources, targets, strict=True):
            if not tgt.strip():
                reasons.append(f"no target caption: {self.name.upper()} needs one (this sample has no caption for "
                               "editor.replace to change; give captions or editor.target_caption)")
            elif tgt == src:
                words = ", ".join(self.spec.replace or {})
                reasons.append(f"nothing to edit: the caption {src!r} has none of the words of editor.replace "
                               f"({words}), so the target caption equals the source")
            else:
                reasons.append("")
        return reasons

    @torch.no_grad()
    def __call__(self, x0: torch.Tensor, captions: list[str]) -> torch.Tensor:
        m, spec = self.model, self.spec
        sources, targets = self.captions(captions)
        cond_target = m.embed_prompts(targets)
        uncond = m.embed_prompts([""]).expand_as(cond_target)
        cond_source = m.embed_prompts(sources) if spec.loss == "dds" else None
        w = spec.guidance_scale - 1.0  # eps^w = (1 + w) eps_c - w eps_u (DDS Sec. 3, unnumbered)
        z_src = x0.float()
        z = z_src.clone()
        step = spec.lr * 2000 / REFERENCE_CELLS  # the notebook's SGD on loss * 2000 / (H * W), at SD's 64 x 64 latents
        gen = torch.Generator().manual_seed(self.seed)
        for _ in range(spec.steps):
            t = torch.randint(spec.t_min, spec.t_max, (z.shape[0],), generator=gen).to(z.device)
            noise = torch.randn(z.shape, generator=gen).to(z)
            if spec.loss == "dds":
                grad = dds_gradient(m, z, z_src, t, noise, cond_target, cond_source, uncond, w)
            else:
                grad = sds_gradient(m, z, t, noise, cond_target, uncond, w)
            z -= step * grad  # d/dz of sum(z * grad.detach()): the gradient itself (DDS Eq. 3 / Eq. 1)
        return z
