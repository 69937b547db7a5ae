"""A diffusion model ready for DDIM: pixel-space UNet2DModel, or latent UNet2DConditionModel + VAE + text."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from rayedit.diffusion.ddim import EpsFn, grid_for, to_epsilon


@dataclass
class DiffusionModel:
    """Everything a DDIM stage needs, independent of where the weights came from.

    ``x`` for DDIM is pixels in [-1, 1] for pixel models and scaled VAE latents for latent models.
    """

    unet: nn.Module
    alphas_cumprod: torch.Tensor
    prediction_type: str
    resolution: int
    model_id: str
    vae: nn.Module | None = None
    text_encoder: Callable[[list[str]], torch.Tensor] | None = None
    vae_scale: float = 1.0
    random_weights: bool = False
    notes: list[str] = field(default_factory=list)
    scheduler_config: dict | None = None
    """The checkpoint's own scheduler settings (spacing, offset); ``ddim.spacing: auto`` follows them."""

    def grid(self, steps: int, spacing: str = "auto") -> list[int]:
        """The ascending S-step DDIM grid: the checkpoint's own with ``auto``, else rayedit's ``spacing``."""
        return grid_for(steps, self.alphas_cumprod, spacing, self.scheduler_config)

    @property
    def num_train_timesteps(self) -> int:
        """T, the length of the training noise schedule."""
        return len(self.alphas_cumprod)

    @property
    def conditional(self) -> bool:
        """Whether the U-Net takes text conditioning."""
        return self.text_encoder is not None

    @property
    def device(self) -> torch.device:
        """Where the U-Net lives."""
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The U-Net's parameter dtype."""
        return next(self.unet.parameters()).dtype

    def to(self, device: str | torch.device, dtype: torch.dtype | None = None) -> DiffusionModel:
        """Move every part to ``device`` (and cast to ``dtype``); returns self."""
        kwargs = {"device": device} if dtype is None else {"device": device, "dtype": dtype}
        for part in (self.unet, self.vae, self.text_encoder):
            if isinstance(part, nn.Module):
                part.to(**kwargs)
        return self

    def latent_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of x for DDIM: the image for pixel models, the VAE latent for latent models."""
        channels = self.unet.config.in_channels
        if self.vae is None:
            return channels, self.resolution, self.resolution
        side = self.resolution // 2 ** (len(self.vae.config.block_out_channels) - 1)  # VAE halves per level
        return channels, side, side

    @torch.no_grad()
    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels in [-1, 1] -> DDIM space (latents = posterior mean x VAE scaling factor)."""
        if self.vae is None:
            return pixels
        latents = self.vae.encode(pixels.to(self.device, self.vae.dtype)).latent_dist.mean
        return latents.float() * self.vae_scale

    @torch.no_grad()
    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """DDIM space -> pixels in [-1, 1]."""
        return self.pixels(x)

    def pixels(self, x: torch.Tensor) -> torch.Tensor:
        """DDIM space -> pixels in [-1, 1], differentiable (a loss on pixels trains through the VAE decoder)."""
        if self.vae is None:
            return x
        return self.vae.decode((x / self.vae_scale).to(self.device, self.vae.dtype)).sample.float()

    @torch.no_grad()
    def embed_prompts(self, prompts: list[str]) -> torch.Tensor | None:
        """Text hidden states for cross-attention, or None for unconditional models."""
        if self.text_encoder is None:
            return None
        return self.text_encoder(prompts)

    def empty_prompt_context(self, n: int) -> torch.Tensor | None:
        """The empty prompt's text states for ``n`` images (None for unconditional models): the unconditional
        branch of classifier-free guidance, and what Asyrp runs a text-conditioned U-Net on."""
        return None if self.text_encoder is None else self.embed_prompts([""] * n)

    def eps_fn(self, cond: torch.Tensor | None = None, uncond: torch.Tensor | None = None,
               guidance_scale: float = 1.0) -> EpsFn:
        """eps(x_t, t) with classifier-free guidance eps_u + s (eps_c - eps_u) (DDS Sec. 3, unnumbered; s = 1 + w).

        Conditional and unconditional branches go through the U-Net in ONE batched call.
        """
        use_cfg = cond is not None and uncond is not None and guidance_scale != 1.0

        @torch.no_grad()
        def fn(x: torch.Tensor, t: int) -> torch.Tensor:
            n = x.shape[0]
            xin = torch.cat([x, x]) if use_cfg else x
            tt = torch.full((xin.shape[0],), t, device=self.device, dtype=torch.long)
            xin = xin.to(self.device, self.dtype)
            if cond is None:
                out = self.unet(xin, tt).sample
            else:
                ctx = torch.cat([cond, uncond]) if use_cfg else cond
                out = self.unet(xin, tt, encoder_hidden_states=ctx.to(self.device, self.dtype)).sample
            out = out.float()
            a_t = float(self.alphas_cumprod[t])
            eps = to_epsilon(out, torch.cat([x, x]) if use_cfg else x, a_t, self.prediction_type)
            if use_cfg:
                eps_c, eps_u = eps[:n], eps[n:]
                eps = eps_u + guidance_scale * (eps_c - eps_u)
            return eps

        return fn
