"""h-space: the U-Net's middle-block output, where Asyrp adds its semantic delta (Asyrp Sec. 3.3), or (our
addition) a decoder block's output.

One batched U-Net call gives both noise estimates of the asymmetric reverse process: the batch is [x; x], and a
forward hook on ``unet.mid_block`` (or the named block) replaces the second half's h by h + dh. The hook works the
same for UNet2DModel and UNet2DConditionModel; diffusers' ``mid_block_additional_residual`` would need h *before*
the call, i.e. a second U-Net call whenever dh depends on h (it does: dh = f_t(h)).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from rayedit.diffusion.ddim import to_epsilon

DeltaFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""dh = f(h, temb): h-space delta from the plain h and the U-Net's time embedding."""


def time_embedding(unet: nn.Module, t: torch.Tensor) -> torch.Tensor:
    """The U-Net's own time embedding of timesteps ``t`` (what its ResNet blocks see), (B, temb_dim)."""
    dtype = next(unet.parameters()).dtype
    return unet.time_embedding(unet.time_proj(t).to(dtype))


H_SPACE = "mid_block"
"""Where h is taken by default: the U-Net's bottleneck, Asyrp's h-space. A direction may name another submodule
(``up_blocks.K``, a decoder block's output: our addition, the training spec's ``h_space``)."""


@contextmanager
def h_delta(unet: nn.Module, delta: Callable[[torch.Tensor], torch.Tensor],
            where: str = H_SPACE) -> Iterator[None]:
    """While active, the output of ``where`` (the mid block) in a [plain; edited] batch becomes [h; h + delta(h)]."""

    def hook(module, inputs, output):
        n = output.shape[0] // 2
        h = output[:n]
        return torch.cat([h, output[n:] + delta(h).to(output.dtype)])

    handle = unet.get_submodule(where).register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@contextmanager
def capture_h(unet: nn.Module, into: list) -> Iterator[None]:
    """While active, every mid-block output (h) is appended to ``into`` (detached)."""
    handle = unet.mid_block.register_forward_hook(lambda m, i, out: into.append(out.detach()))
    try:
        yield
    finally:
        handle.remove()


def plain_and_edited_eps(model, x: torch.Tensor, t: int, delta: DeltaFn, context: torch.Tensor | None = None,
                         where: str = H_SPACE) -> tuple[torch.Tensor, torch.Tensor]:
    """(eps(x_t), eps(x_t | h + dh)) from ONE batched U-Net call (Asyrp Eq. 8's two estimates).

    Gradients flow from the edited estimate into ``delta``'s parameters; the U-Net itself stays frozen.
    ``context``: text hidden states for UNet2DConditionModel (no classifier-free guidance here); ``where``: the
    submodule whose output is h (:data:`H_SPACE`).
    """
    unet = model.unet
    n = x.shape[0]
    tt = torch.full((2 * n,), t, device=model.device, dtype=torch.long)
    temb = time_embedding(unet, tt[:n])
    xin = torch.cat([x, x]).to(model.device, model.dtype)
    kwargs = {} if context is None else {"encoder_hidden_states": torch.cat([context, context]).to(model.device,
                                                                                                  model.dtype)}
    with h_delta(unet, lambda h: delta(h, temb), where):
        out = unet(xin, tt, **kwargs).sample.float()
    eps = to_epsilon(out, torch.cat([x, x]).to(out), float(model.alphas_cumprod[t]), model.prediction_type)
    return eps[:n], eps[n:]
