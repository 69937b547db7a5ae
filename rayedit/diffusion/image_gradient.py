"""The guidance gradient with respect to the IMAGE (pixels), as HQS needs it: SDS, or DDS against a source caption,
pulled back through the VAE encoder for latent models (ALGORITHMS.md, HQS)."""

from __future__ import annotations

import torch

from rayedit.diffusion.guidance import dds_gradient, sds_gradient


def image_gradient(model, pixels: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, cond: torch.Tensor,
                   uncond: torch.Tensor, w: float, source: torch.Tensor | None = None) -> torch.Tensor:
    """d_t (B, 3, H, W): grad_SDS = eps^w(z_t, y, t) - eps (DDS Eq. 2), or grad_DDS with ``source`` (DDS Eq. 3,
    the image against itself under both captions), w.r.t. pixels in [-1, 1]. ``noise`` has the latent's shape."""
    if model.vae is None:
        z = pixels
    else:
        pixels = pixels.detach().requires_grad_(True)
        with torch.enable_grad():
            z = model.vae.encode(pixels.to(model.vae.dtype)).latent_dist.mean.float() * model.vae_scale
    zd = z.detach()
    if source is None:
        g = sds_gradient(model, zd, t, noise, cond, uncond, w)
    else:
        g = dds_gradient(model, zd, zd, t, noise, cond, source, uncond, w)
    if model.vae is None:
        return g
    (d,) = torch.autograd.grad(z, pixels, grad_outputs=g)  # J_enc^T grad: the gradient through the VAE encoder
    return d
