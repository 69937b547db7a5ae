"""Score-distillation gradients: classifier-free guidance, SDS and DDS (DDS paper Sec. 3, Eq. 1 and 3; SDD /
DreamFusion SDS).

Pure torch. Every gradient here is w.r.t. the clean input z and is applied without backpropagating through the
U-Net (loss = sum(z * grad.detach())). Conditional and unconditional branches of every image go through the U-Net
in ONE batched call.
"""

from __future__ import annotations

import torch

from rayedit.diffusion.ddim import to_epsilon


def guided(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, w: float) -> torch.Tensor:
    """eps^w = (1 + w) eps(z_t, y, t) - w eps(z_t, t)  (DDS Sec. 3, unnumbered; diffusers' guidance_scale s =
    1 + w)."""
    return (1 + w) * eps_cond - w * eps_uncond


def add_noise(z: torch.Tensor, noise: torch.Tensor, alpha_t: float) -> torch.Tensor:
    """z_t = sqrt(alpha_t) z + sqrt(1 - alpha_t) eps  (DDPM Eq. 4)."""
    return alpha_t**0.5 * z + (1 - alpha_t) ** 0.5 * noise


def _eps_batch(model, xs: list[torch.Tensor], contexts: list[torch.Tensor], t: torch.Tensor) -> list[torch.Tensor]:
    """U-Net noise predictions for several (x_t, context) groups of equal size, in ONE call."""
    n = xs[0].shape[0]
    x = torch.cat(xs).to(model.device, model.dtype)
    ctx = torch.cat(contexts).to(model.device, model.dtype)
    tt = t.to(model.device).repeat(len(xs))
    out = model.unet(x, tt, encoder_hidden_states=ctx).sample.float()
    a = model.alphas_cumprod.to(out.device)[tt].float().view(-1, 1, 1, 1)
    eps = to_epsilon(out, x.float(), a, model.prediction_type)
    return list(eps.split(n))


@torch.no_grad()
def sds_gradient(model, z: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, cond: torch.Tensor,
                 uncond: torch.Tensor, w: float) -> torch.Tensor:
    """grad_SDS = eps^w(z_t, y, t) - eps, w(t) = 1  (SDS as written in the DDS paper, Eq. 2). ``t`` per sample."""
    a = model.alphas_cumprod.to(z.device)[t].float().view(-1, 1, 1, 1)
    zt = add_noise(z, noise, a)
    eps_c, eps_u = _eps_batch(model, [zt, zt], [cond, uncond], t)
    return guided(eps_c, eps_u, w) - noise.to(eps_c)


@torch.no_grad()
def dds_gradient(model, z: torch.Tensor, z_src: torch.Tensor, t: torch.Tensor, noise: torch.Tensor,
                 cond_target: torch.Tensor, cond_source: torch.Tensor, uncond: torch.Tensor, w: float) -> torch.Tensor:
    """grad_DDS = eps^w(z_t, y_tgt, t) - eps^w(z^_t, y_src, t), z_t and z^_t with the SAME noise and t (DDS Eq. 3).

    The four predictions (target/source x cond/uncond) come from one U-Net call.
    """
    a = model.alphas_cumprod.to(z.device)[t].float().view(-1, 1, 1, 1)
    zt, zt_src = add_noise(z, noise, a), add_noise(z_src, noise, a)
    e_tc, e_tu, e_sc, e_su = _eps_batch(model, [zt, zt, zt_src, zt_src],
                                        [cond_target, uncond, cond_source, uncond], t)
    return guided(e_tc, e_tu, w) - guided(e_sc, e_su, w)
