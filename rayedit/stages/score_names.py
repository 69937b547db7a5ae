"""The keys of the scores a job computes, known from its spec alone (filters are checked against them before any
work; the driver needs no model library for it)."""

from __future__ import annotations

from rayedit.config import ScoreSpec


def lpips_score_name(random_backbone: bool) -> str:
    """The score key: a random-backbone LPIPS is not LPIPS, so it gets its own name."""
    return "lpips_random_backbone" if random_backbone else "lpips"


def score_names(spec: ScoreSpec) -> list[str]:
    """The keys this spec's scores will have (used to validate filters before a job runs)."""
    names = []
    if spec.clip is not None:
        names.append("clip_score")
        if spec.target_caption or spec.replace:
            names.append("clip_direction")
    if spec.lpips is not None:
        names.append(lpips_score_name(spec.lpips.random_backbone))
    if spec.guidance is not None:
        names.append("guidance_residual")
    return names
