"""Choosing a direction's strength on held-out before/after pairs (our addition to Asyrp).

A direction regressed onto pairs tends to overshoot at strength 1 on images it was not trained on (the toy world:
shapes start to melt). With pairs held out of training, the strength whose edits land closest to the held-out
targets is measured, not guessed: no oracle needed, only the pairs the user already has.
"""

from __future__ import annotations

import torch
from tqdm import tqdm

from rayedit.editors.asyrp.editor import AsyrpEditor

STRENGTHS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2)
"""The strengths tried on the held-out pairs."""


@torch.no_grad()
def strength_errors(model, delta: torch.nn.Module, sources: torch.Tensor, targets: torch.Tensor, steps: int,
                    t_edit: int, t_max: int | None, spacing: str = "auto", batch_size: int = 16,
                    strengths: tuple[float, ...] = STRENGTHS, progress: bool = False) -> dict[float, float]:
    """Mean squared error (DDIM space, [-1, 1]) between each held-out source edited at each strength and its
    target: the deterministic edit (eta = 0 throughout, so the error is the direction's, not boosting noise). Each
    batch is inverted once and generated at every strength."""
    if sources.shape != targets.shape:
        raise ValueError(f"sources {tuple(sources.shape)} must match targets {tuple(targets.shape)} row for row")
    editors = {c: AsyrpEditor(model, [delta], [c], steps=steps, t_edit=t_edit, t_boost=0, train_steps=steps,
                              boost=False, spacing=spacing, t_max=t_max) for c in strengths}
    first = editors[strengths[0]]
    totals = dict.fromkeys(strengths, 0.0)
    batches = range(0, sources.shape[0], batch_size)
    for s in tqdm(batches, desc="strength on held-out pairs", disable=not progress):
        x_T = first.invert(sources[s:s + batch_size].to(model.device))
        y = targets[s:s + batch_size].to(x_T)
        for c, editor in editors.items():
            totals[c] += float(((editor.generate(x_T) - y) ** 2).mean(dim=(1, 2, 3)).sum())
    return {c: total / sources.shape[0] for c, total in totals.items()}


def best_strength(errors: dict[float, float]) -> float:
    """The strength with the smallest held-out error (the weaker one on a tie)."""
    return min(errors, key=lambda c: (errors[c], c))
