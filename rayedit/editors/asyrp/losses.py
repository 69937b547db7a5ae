"""Asyrp's training losses: directional CLIP loss (Eq. 4) and the reconstruction weight from the captions."""

from __future__ import annotations

import torch
import torch.nn.functional as F


@torch.no_grad()
def text_direction(clip, source: str | list[str], target: str | list[str]) -> tuple[torch.Tensor, float]:
    """Unit vector E_T(y_tgt) - E_T(y_src), and cos(E_T(y_src), E_T(y_tgt)).

    Lists are prompt ensembles (the authors average prompt templates): each side is the normalised mean of its
    captions' embeddings, so an attribute the captions vary (e.g. the shape) drops out of the direction.
    """
    src = F.normalize(clip.embed_texts([source] if isinstance(source, str) else list(source)).mean(0), dim=-1)
    tgt = F.normalize(clip.embed_texts([target] if isinstance(target, str) else list(target)).mean(0), dim=-1)
    return F.normalize(tgt - src, dim=-1), float(src @ tgt)


def default_lambda_recon(text_cosine: float) -> float:
    """lambda_recon = 3 * cos(E_T(y_src), E_T(y_tgt)) (the authors' code): close prompts, stronger identity."""
    return 3.0 * text_cosine


def directional_clip_loss(clip, edited: torch.Tensor, source_embedding: torch.Tensor,
                          text_dir: torch.Tensor) -> torch.Tensor:
    """1 - cos(E_I(x_edit) - E_I(x_src), E_T(y_tgt) - E_T(y_src))  (Asyrp Eq. 4); ``edited`` in [-1, 1]."""
    img = clip.image_features(((edited + 1) / 2).clamp(0, 1))
    d_img = F.normalize(img - source_embedding, dim=-1)
    return (1 - d_img @ text_dir).mean()


def paired_p_loss(p_edit: torch.Tensor, p_source: torch.Tensor, x0: torch.Tensor, y: torch.Tensor,
                  alpha_bar: float) -> torch.Tensor:
    """Our paired supervision (not the paper's): the edited P_t should equal the source trajectory's P_t moved by
    the known edit, P_src + (y - x0); weighted by alpha/(1 - alpha), i.e. measured in epsilon space
    (P_t = (x_t - sqrt(1 - alpha) eps) / sqrt(alpha), DDIM Eq. 12)."""
    return alpha_bar / (1 - alpha_bar) * F.mse_loss(p_edit, p_source + (y - x0))
