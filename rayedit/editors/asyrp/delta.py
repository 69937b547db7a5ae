"""f_t, the network that maps h-space features to a semantic delta dh (Asyrp Sec. 3.3, official architecture)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class DeltaBlock(nn.Module):
    """dh = f_t(h, t): 1x1 conv + Linear(SiLU(time embedding)), GroupNorm(32), SiLU, 1x1 conv; default init."""

    def __init__(self, channels: int, temb_channels: int, groups: int = 32):
        super().__init__()
        self.channels, self.temb_channels = channels, temb_channels
        self.conv_in = nn.Conv2d(channels, channels, 1)
        self.temb_proj = nn.Linear(temb_channels, channels)
        self.norm = nn.GroupNorm(math.gcd(groups, channels), channels)
        self.conv_out = nn.Conv2d(channels, channels, 1)
        self.mean_dh: torch.Tensor | None = None
        """The mean direction saved with f_t (T_edit, C, H, W), when training computed it."""

    def forward(self, h: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        """h (B, C, H, W) and the U-Net's time embedding (B, temb_channels) -> dh, same shape as h."""
        x = self.conv_in(h) + self.temb_proj(F.silu(temb))[:, :, None, None]
        return self.conv_out(F.silu(self.norm(x)))


def delta_for(unet: nn.Module, zero_init: bool = False) -> DeltaBlock:
    """A fresh f_t sized for ``unet``'s middle block and time embedding. ``zero_init``: the last conv starts at 0,
    so dh = 0 before training (the official code keeps PyTorch's default init, where dh starts as random noise
    of ~1/3 of h's scale on the toy DDPM)."""
    channels = unet.config.block_out_channels[-1]
    temb = unet.time_embedding.linear_2.out_features
    f = DeltaBlock(channels, temb)
    if zero_init:
        nn.init.zeros_(f.conv_out.weight)
        nn.init.zeros_(f.conv_out.bias)
    return f


class CombinedDelta(nn.Module):
    """dh = scale * sum_i c_i f^i_t(h) (Asyrp Sec. 5: several attributes; scale = S_train / S_gen)."""

    def __init__(self, deltas: list[DeltaBlock], strengths: list[float], scale: float = 1.0):
        super().__init__()
        if len(deltas) != len(strengths) or not deltas:
            raise ValueError("give one strength per direction, and at least one direction")
        self.deltas = nn.ModuleList(deltas)
        self.strengths = list(strengths)
        self.scale = scale

    def forward(self, h: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        """The combined delta for h."""
        return self.scale * sum(c * f(h, temb) for f, c in zip(self.deltas, self.strengths, strict=True))


def fixed_delta(deltas: list[DeltaBlock], strengths: list[float], timesteps: list[int], t: int, mode: str,
                scale: float = 1.0) -> torch.Tensor:
    """The image-independent dh at timestep ``t`` (Asyrp Sec. 5): ``mean`` = each direction's dh averaged over
    training images at the nearest training timestep; ``global`` = that average over all editing timesteps too;
    combined as scale * sum_i c_i dh_i."""
    nearest = min(range(len(timesteps)), key=lambda k: abs(timesteps[k] - t))
    parts = [f.mean_dh.mean(0) if mode == "global" else f.mean_dh[nearest] for f in deltas]
    return scale * sum(c * d for c, d in zip(strengths, parts, strict=True))
