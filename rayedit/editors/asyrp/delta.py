"""f_t, the network that maps h-space features to a semantic delta dh (Asyrp Sec. 3.3, official architecture)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rayedit.diffusion.hspace import H_SPACE


class DeltaBlock(nn.Module):
    """dh = f_t(h, t): 1x1 conv + Linear(SiLU(time embedding)), GroupNorm(32), SiLU, 1x1 conv; default init."""

    def __init__(self, channels: int, temb_channels: int, groups: int = 32, h_space: str = H_SPACE):
        super().__init__()
        self.channels, self.temb_channels, self.h_space = channels, temb_channels, h_space
        self.conv_in = nn.Conv2d(channels, channels, 1)
        self.temb_proj = nn.Linear(temb_channels, channels)
        self.norm = nn.GroupNorm(math.gcd(groups, channels), channels)
        self.conv_out = nn.Conv2d(channels, channels, 1)
        self.mean_dh: torch.Tensor | None = None
        """The mean direction saved with f_t (T_edit, C, H, W), when training computed it."""

    arch = "paper"

    def forward(self, h: torch.Tensor, temb: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """h (B, C, H, W) and the U-Net's time embedding (B, temb_channels) -> dh, same shape as h (``x``, the
        noisy input, is not used: the paper's f_t sees h and t only)."""
        z = self.conv_in(h) + self.temb_proj(F.silu(temb))[:, :, None, None]
        return self.conv_out(F.silu(self.norm(z)))

    def arch_meta(self) -> dict:
        """What :func:`build_delta` needs to rebuild this f_t (saved in the direction's JSON)."""
        return {"arch": self.arch, "channels": self.channels, "temb_channels": self.temb_channels,
                "h_space": self.h_space}


class SeeingDeltaBlock(nn.Module):
    """dh = f_t(h, x_t, t), our variant (not the paper's): two 3x3-conv layers of ``width`` channels over h, with the
    time embedding and a stride-2 conv encoding of the noisy input x_t added before the first activation.

    Why: with h alone (1x1 or 3x3 convs), one f_t preserved the object's shape in at most ~30-44% of toy red -> blue
    edits, although a free dh per image reaches ~100% (``python -m research asyrp-ceiling``); seeing x_t it reached 83%
    with the same training. x_t is what the U-Net sees anyway, so the extra input costs one small encoder call."""

    arch = "seeing"

    def __init__(self, channels: int, temb_channels: int, in_channels: int, downsamples: int, width: int = 128,
                 groups: int = 32, h_space: str = H_SPACE):
        super().__init__()
        self.channels, self.temb_channels, self.h_space = channels, temb_channels, h_space
        self.in_channels, self.downsamples, self.width = in_channels, downsamples, width
        norm = math.gcd(groups, width)
        self.conv_in = nn.Conv2d(channels, width, 3, padding=1)
        self.temb_proj = nn.Linear(temb_channels, width)
        self.norm = nn.GroupNorm(norm, width)
        self.conv_mid = nn.Conv2d(width, width, 3, padding=1)
        self.norm_mid = nn.GroupNorm(norm, width)
        self.conv_out = nn.Conv2d(width, channels, 3, padding=1)
        sizes = [in_channels] + [64] * max(downsamples - 1, 0) + [width]
        layers: list[nn.Module] = []
        for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers += ([nn.SiLU()] if k else []) + [nn.Conv2d(a, b, 3, stride=2 if downsamples else 1, padding=1)]
        self.encode_x = nn.Sequential(*layers)
        self.mean_dh: torch.Tensor | None = None
        """The mean direction saved with f_t (T_edit, C, H, W), when training computed it."""

    def forward(self, h: torch.Tensor, temb: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """h (B, C, H, W), the time embedding (B, temb_channels) and x_t (B, in_channels, H0, W0) -> dh like h."""
        if x is None:
            raise ValueError("this f_t (arch 'seeing') needs the noisy input x_t as well as h")
        ex = self.encode_x(x.to(h))
        if ex.shape[-2:] != h.shape[-2:]:
            ex = F.adaptive_avg_pool2d(ex, h.shape[-2:])
        z = self.conv_in(h) + self.temb_proj(F.silu(temb))[:, :, None, None] + ex
        z = F.silu(self.norm_mid(self.conv_mid(F.silu(self.norm(z)))))
        return self.conv_out(z)

    def arch_meta(self) -> dict:
        """What :func:`build_delta` needs to rebuild this f_t (saved in the direction's JSON)."""
        return {"arch": self.arch, "channels": self.channels, "temb_channels": self.temb_channels,
                "in_channels": self.in_channels, "downsamples": self.downsamples, "width": self.width,
                "h_space": self.h_space}


ARCHS = ("paper", "seeing")
"""f_t architectures: ``paper`` = :class:`DeltaBlock`, ``seeing`` = :class:`SeeingDeltaBlock`."""


def build_delta(meta: dict) -> nn.Module:
    """An untrained f_t of the architecture a direction's JSON names (directions saved before ``arch`` existed
    are ``paper``)."""
    arch, where = meta.get("arch", "paper"), meta.get("h_space", H_SPACE)  # older directions: the mid block
    if arch == "paper":
        return DeltaBlock(meta["channels"], meta["temb_channels"], h_space=where)
    if arch == "seeing":
        return SeeingDeltaBlock(meta["channels"], meta["temb_channels"], meta["in_channels"], meta["downsamples"],
                                meta["width"], h_space=where)
    raise ValueError(f"unknown f_t architecture {arch!r}; this version knows {', '.join(ARCHS)}")


def h_space_shape(unet: nn.Module, h_space: str = H_SPACE) -> tuple[int, int]:
    """(channels, halvings of the input's resolution) of h at ``h_space``: ``mid_block`` (Asyrp's bottleneck) or
    ``up_blocks.K`` (the output of decoder block K, after its upsampler)."""
    widths = list(unet.config.block_out_channels)
    levels = len(widths) - 1
    if h_space == "mid_block":
        return widths[-1], levels
    block = h_space.removeprefix("up_blocks.")
    if h_space.startswith("up_blocks.") and block.isdigit() and int(block) <= levels:
        k = int(block)
        return widths[::-1][k], max(levels - 1 - k, 0)  # every decoder block but the last upsamples
    raise ValueError(f"h_space {h_space!r}: use mid_block or up_blocks.K with K in 0..{levels} (this U-Net has "
                     f"{levels + 1} decoder blocks)")


def delta_for(unet: nn.Module, zero_init: bool = False, arch: str = "paper", h_space: str = H_SPACE) -> nn.Module:
    """A fresh f_t sized for h at ``h_space`` of ``unet`` (default its middle block), its time embedding and
    (``seeing``) input. ``zero_init``: the last conv starts at 0, so dh = 0 before training (the official code keeps
    PyTorch's default init, where dh starts as random noise of ~1/3 of h's scale on the toy DDPM). ``seeing`` is
    ``max(128, C)`` channels wide, C = h's."""
    cfg = unet.config
    channels, downsamples = h_space_shape(unet, h_space)
    meta = {"arch": arch, "channels": channels, "temb_channels": unet.time_embedding.linear_2.out_features,
            "in_channels": cfg.in_channels, "downsamples": downsamples, "width": max(128, channels),
            "h_space": h_space}
    f = build_delta(meta)
    if zero_init:
        nn.init.zeros_(f.conv_out.weight)
        nn.init.zeros_(f.conv_out.bias)
    return f


class CombinedDelta(nn.Module):
    """dh = scale * sum_i c_i f^i_t(h) (Asyrp Sec. 5: several attributes; scale = S_train / S_gen)."""

    def __init__(self, deltas: list[nn.Module], strengths: list[float], scale: float = 1.0):
        super().__init__()
        if len(deltas) != len(strengths) or not deltas:
            raise ValueError("give one strength per direction, and at least one direction")
        places = {getattr(f, "h_space", H_SPACE) for f in deltas}
        if len(places) > 1:
            raise ValueError(f"directions trained at different h-spaces ({', '.join(sorted(places))}) cannot be "
                             "combined: each edit adds dh to one U-Net layer")
        self.deltas = nn.ModuleList(deltas)
        self.strengths = list(strengths)
        self.scale = scale
        self.h_space = places.pop()
        """Where every combined direction adds its dh."""

    def forward(self, h: torch.Tensor, temb: torch.Tensor, x: torch.Tensor | None = None,
                active: list[bool] | None = None) -> torch.Tensor:
        """The combined delta for h (at noisy input ``x``, for the f_t that see it); ``active``: only these
        directions (the others are outside their editing interval at this step)."""
        on = active if active is not None else [True] * len(self.deltas)
        parts = [c * f(h, temb, x) for f, c, a in zip(self.deltas, self.strengths, on, strict=True) if a]
        return self.scale * sum(parts) if parts else torch.zeros_like(h)


def fixed_delta(deltas: list[nn.Module], strengths: list[float], timesteps: list[int], t: int, mode: str,
                scale: float = 1.0) -> torch.Tensor:
    """The image-independent dh at timestep ``t`` (Asyrp Sec. 5): ``mean`` = each direction's dh averaged over
    training images at the nearest training timestep; ``global`` = that average over all editing timesteps too;
    combined as scale * sum_i c_i dh_i."""
    nearest = min(range(len(timesteps)), key=lambda k: abs(timesteps[k] - t))
    parts = [f.mean_dh.mean(0) if mode == "global" else f.mean_dh[nearest] for f in deltas]
    return scale * sum(c * d for c, d in zip(strengths, parts, strict=True))
