"""The translator's training objective and schedules (DDS paper section 4): DDS + lambda_ID(step) * identity,
with classifier-free guidance warmed up from low to high (without warm-up the translator mode-collapses)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from rayedit.diffusion.guidance import dds_gradient, sds_gradient
from rayedit.editors.captions import replace_words


def warmup(step: int, start: float, end: float, steps: int) -> float:
    """Linear ramp from ``start`` to ``end`` over ``steps`` (then ``end``): the CFG warm-up."""
    return end if steps <= 0 else start + (end - start) * min(1.0, step / steps)


def cosine_decay(step: int, start: float, end: float, steps: int) -> float:
    """Cosine schedule from ``start`` at step 0 to ``end`` at ``steps``: the identity weight lambda_ID."""
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(steps, 1))))


@dataclass
class TaskConditions:
    """Frozen text embeddings the gradient needs: one per target task, the source caption, the empty caption."""

    targets: torch.Tensor
    """(K, L, D) embeddings of the K target captions."""
    source: torch.Tensor
    """(1, L, D) embedding of the source caption."""
    uncond: torch.Tensor
    """(1, L, D) embedding of the empty caption."""

    @classmethod
    def encode(cls, model, targets: list[str], source: str) -> TaskConditions:
        """Embed the captions with the diffusion model's own text encoder."""
        return cls(model.embed_prompts(targets), model.embed_prompts([source]), model.embed_prompts([""]))

    def pairs(self, task: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(target, source) embeddings per sample, (B, L, D) each: the task's caption against the source caption."""
        cond = self.targets[task]
        return cond, self.source.expand_as(cond)


class PerImageConditions:
    """DDS pairs from each image's own caption: source = the caption, target = the caption with the task's word
    map applied (the zero-shot editor's ``replace``); embeddings cached by caption. Empty captions use the
    fixed task captions of ``fixed``."""

    def __init__(self, model, fixed: TaskConditions, replace: list[dict[str, str]]):
        self.model, self.fixed, self.replace = model, fixed, replace
        self._cache: dict[str, torch.Tensor] = {}

    def _embed(self, captions: list[str]) -> torch.Tensor:
        new = sorted({c for c in captions if c not in self._cache})
        if new:
            self._cache.update(zip(new, self.model.embed_prompts(new), strict=True))
        return torch.stack([self._cache[c] for c in captions])

    def pairs(self, task: torch.Tensor, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(target, source) embeddings per sample, (B, L, D) each."""
        cond, source = self.fixed.pairs(task)
        own = [i for i, c in enumerate(captions) if c]
        if own:
            src_caps = [captions[i] for i in own]
            tgt_caps = [replace_words(captions[i], self.replace[int(task[i])]) for i in own]
            cond, source = cond.clone(), source.clone()
            cond[own], source[own] = self._embed(tgt_caps).to(cond), self._embed(src_caps).to(source)
        return cond, source


def sample_timesteps(n: int, timesteps: tuple[int, int] | list[int], generator: torch.Generator) -> torch.Tensor:
    """``n`` timesteps: uniform in [lo, hi) for a (lo, hi) tuple, or uniform over a list (an HQS-selected set)."""
    if isinstance(timesteps, tuple):
        return torch.randint(timesteps[0], timesteps[1], (n,), generator=generator)
    pick = torch.randint(0, len(timesteps), (n,), generator=generator)
    return torch.tensor(timesteps)[pick]


def translator_loss(model, z: torch.Tensor, z_src: torch.Tensor, pair: tuple[torch.Tensor, torch.Tensor],
                    uncond: torch.Tensor, guidance_scale: float, lambda_id: float,
                    timesteps: tuple[int, int] | list[int], generator: torch.Generator,
                    loss: str = "dds", identity_norm: str = "l2") -> tuple[torch.Tensor, dict[str, float]]:
    """DDS(g(z^|k), y_k; z^, y_src) + lambda_ID |g(z^|k) - z^|^2 for a batch (``z`` = the translator's output,
    ``pair`` = per-sample (y_k, y_src) embeddings, ``uncond`` = the empty caption's; ``identity_norm='l1'`` takes
    |g(z^|k) - z^|_1 instead).

    Both terms use the zero-shot notebook's per-image 2000 / (H * W) normalisation (summed over pixels, averaged
    over the batch), so lambda_ID = 1 pulls towards the source as hard as a unit gradient pushes away.
    ``loss='sds'`` replaces DDS by SDS (the paper's ablation; with an HQS timestep set, SDD's distilled editor).
    """
    b = z.shape[0]
    t = sample_timesteps(b, timesteps, generator).to(z.device)
    noise = torch.randn(z.shape, generator=generator).to(z.device)
    w = guidance_scale - 1.0  # eps^w = (1 + w) eps_c - w eps_u (DDS Sec. 3, unnumbered), diffusers scale s = 1 + w
    cond, source = pair
    uncond = uncond.expand_as(cond)
    if loss == "dds":
        grad = dds_gradient(model, z.detach(), z_src, t, noise, cond, source, uncond, w)
    else:
        grad = sds_gradient(model, z.detach(), t, noise, cond, uncond, w)
    norm = 2000.0 / (z.shape[-2] * z.shape[-1]) / b
    score_term = (z * grad).sum() * norm  # surrogate whose gradient w.r.t. z is grad (DDS Eq. 3)
    diff = z - z_src
    identity = (diff.abs() if identity_norm == "l1" else diff.pow(2)).sum() * norm  # DDS section 4's lambda_ID term
    total = score_term + lambda_id * identity
    return total, {"grad_rms": float(grad.pow(2).mean().sqrt()), "identity": float(identity.detach()),
                   "guidance_scale": guidance_scale, "lambda_id": lambda_id}
