"""The guidance gradient with respect to the IMAGE (pixels), as HQS needs it: SDS, or DDS against a source caption,
pulled back through the VAE encoder for latent models (docs/algorithms.md, HQS)."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from rayedit.diffusion.guidance import dds_gradient, sds_gradient


def image_gradient(model, pixels: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, cond: torch.Tensor,
                   uncond: torch.Tensor, w: float, source: torch.Tensor | None = None) -> torch.Tensor:
    """d_t (B, 3, H, W): grad_SDS = eps^w(z_t, y, t) - eps (DDS Eq. 1), or grad_DDS with ``source`` (DDS Eq. 3,
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


def timestep_sweep(model, pixels: torch.Tensor, keys: list[str], timesteps: list[int], noise_samples: int,
                   seed: int, cond: torch.Tensor, uncond: torch.Tensor, w: float,
                   source: torch.Tensor | None = None) -> Iterator[tuple[int, torch.Tensor]]:
    """(index of t, d_t) for every t and noise draw: :func:`image_gradient` with noise seeded per sample key, so
    what a sample gets does not depend on its batch (HQS partial sums and the guidance residual share this)."""
    from rayedit.diffusion.seeds import per_sample_noise, sample_generators

    b = pixels.shape[0]
    latent = model.encode(pixels[:1]).shape[1:]
    gens = sample_generators(seed, keys)
    for i, t in enumerate(timesteps):
        tt = torch.full((b,), t, dtype=torch.long, device=model.device)
        for _ in range(noise_samples):
            noise = per_sample_noise(gens, latent).to(model.device)
            yield i, image_gradient(model, pixels, tt, noise, cond, uncond, w, source)
