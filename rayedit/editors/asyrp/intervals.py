"""Asyrp's editing and boosting intervals from LPIPS curves over sample images (Asyrp Sec. 4.1-4.2)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rayedit.diffusion.ddim import ddim_inversion_step, grid_alphas, predicted_x0

EDIT_LPIPS = 0.33
"""t_edit: where LPIPS(x, P_t) reaches 0.33 - delta (Asyrp Sec. 4.1)."""
BOOST_LPIPS = 1.2
"""t_boost: where LPIPS(x, x_t) reaches 1.2 (Asyrp Sec. 4.2)."""


@dataclass
class LpipsCurves:
    """Mean LPIPS over sample images at each grid timestep: to the predicted x0 and to the noisy x_t."""

    timesteps: list[int]
    to_predicted_x0: list[float]
    to_noisy: list[float]


@torch.no_grad()
def lpips_curves(model, lpips_fn, x0: torch.Tensor, ts: list[int]) -> LpipsCurves:
    """Walk the DDIM inversion of ``x0`` (DDIM space) up the grid, measuring LPIPS(x, P_t) and LPIPS(x, x_t) on
    pixels. A latent model's P_t is decoded; its x_t has no pixel form, so x_t is the image noised in pixel space
    to the same alpha (DDPM Eq. 4, fixed noise) - the noise level the paper's pixel-space curve measures."""
    eps_fn = model.eps_fn(model.empty_prompt_context(x0.shape[0]))  # a text model on the empty prompt, as trained
    a = grid_alphas(model.alphas_cumprod, ts)
    image = model.decode(x0)
    noise = torch.randn(image.shape, generator=torch.Generator().manual_seed(0)).to(image)
    x, to_p, to_x = x0, [], []
    for i, t in enumerate(ts):
        eps = eps_fn(x, t)
        x = ddim_inversion_step(x, eps, a[i], a[i + 1])  # x now sits at ts[i]
        p = predicted_x0(x, eps_fn(x, t), a[i + 1])
        noisy = x if model.vae is None else a[i + 1] ** 0.5 * image + (1 - a[i + 1]) ** 0.5 * noise
        to_p.append(float(lpips_fn(image, model.decode(p).clamp(-1, 1)).mean()))
        to_x.append(float(lpips_fn(image, noisy.clamp(-1, 1)).mean()))
    return LpipsCurves(list(ts), to_p, to_x)


def first_reaching(ts: list[int], values: list[float], threshold: float) -> int:
    """The smallest grid t whose value reaches ``threshold`` (the last t when none does)."""
    for t, v in zip(ts, values, strict=True):
        if v >= threshold:
            return t
    return ts[-1]


def edit_threshold(text_cosine: float) -> float:
    """0.33 - delta with delta = 0.33 * (1 - cos(E_T(source), E_T(target))): farther prompts, lower threshold."""
    return EDIT_LPIPS - EDIT_LPIPS * (1 - text_cosine)


def edit_interval_start(curves: LpipsCurves, text_cosine: float) -> int:
    """t_edit: where LPIPS(x, P_t) reaches :func:`edit_threshold` (farther prompts keep editing down to smaller t)."""
    return first_reaching(curves.timesteps, curves.to_predicted_x0, edit_threshold(text_cosine))


def boost_interval_start(curves: LpipsCurves) -> int:
    """t_boost: below it, sampling adds noise (eta = 1) to sharpen details."""
    return first_reaching(curves.timesteps, curves.to_noisy, BOOST_LPIPS)
