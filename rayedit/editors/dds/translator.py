"""The DDS translator g(z^ | k) (DDS paper section 4): a conditional U-Net mapping a source image to task k's edit.

Task k's text tokens (initialised from target caption k's text embedding) go in through cross-attention, and the
U-Net's timestep input is reused as a learned per-task scalar (initialised at t = T/2). Output is residual,
g = z^ + U(z^; t_k, c_k), with U's output convolution zeroed at the start, so g begins as the identity (our choice:
the paper leaves the output parametrisation open; the identity loss then only has to hold it there).
"""

from __future__ import annotations

import copy

import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from rayedit.editors.artifact_meta import TRANSLATOR_META, read_translator_meta
from rayedit.storage.artifacts import read_file, write_artifact

WEIGHTS, META = "translator.safetensors", TRANSLATOR_META


class Translator(nn.Module):
    """g(z^ | k) = z^ + U(z^, t_k, c_k) over ``K`` tasks; ``task`` is a (B,) long tensor of task indices."""

    def __init__(self, unet: UNet2DConditionModel, task_tokens: torch.Tensor, task_time: float = 500.0):
        super().__init__()
        self.unet = unet
        self.task_tokens = nn.Parameter(task_tokens.detach().clone().float())
        self.task_time = nn.Parameter(torch.full((task_tokens.shape[0],), float(task_time)))

    @property
    def num_tasks(self) -> int:
        """K, the number of target tasks."""
        return self.task_tokens.shape[0]

    def forward(self, z_src: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        dtype = next(self.unet.parameters()).dtype
        out = self.unet(z_src.to(dtype), self.task_time[task], encoder_hidden_states=self.task_tokens[task].to(dtype))
        return z_src + out.sample.to(z_src.dtype)


def small_unet(in_channels: int, sample_size: int, cross_attention_dim: int,
               widths: tuple[int, ...] = (32, 64, 64)) -> UNet2DConditionModel:
    """A small conditional U-Net (cross-attention at the coarsest level and in the middle) for cheap translators."""
    n = len(widths)
    return UNet2DConditionModel(
        sample_size=sample_size, in_channels=in_channels, out_channels=in_channels, layers_per_block=1,
        block_out_channels=tuple(widths), down_block_types=("DownBlock2D",) * (n - 1) + ("CrossAttnDownBlock2D",),
        up_block_types=("CrossAttnUpBlock2D",) + ("UpBlock2D",) * (n - 1), cross_attention_dim=cross_attention_dim,
        attention_head_dim=16, norm_num_groups=8,
    )


def build_translator(model, targets: list[str], init: str = "small", widths: tuple[int, ...] = (32, 64, 64),
                     seed: int = 0) -> Translator:
    """A translator for ``targets`` on ``model``'s space: a copy of its U-Net (``init='model'``, the paper) or a
    fresh small one (``'small'``); task tokens from the model's text encoder, output convolution zeroed."""
    torch.manual_seed(seed)
    tokens = model.embed_prompts(targets).float().cpu()
    if init == "model":
        unet = copy.deepcopy(model.unet).float().cpu()
    else:
        cfg = model.unet.config
        unet = small_unet(cfg.in_channels, cfg.sample_size, tokens.shape[-1], widths)
    nn.init.zeros_(unet.conv_out.weight)
    nn.init.zeros_(unet.conv_out.bias)
    return Translator(unet.requires_grad_(True).train(), tokens, task_time=model.num_train_timesteps / 2)


def save_translator(url: str, translator: Translator, meta: dict, dtype: torch.dtype = torch.float32) -> None:
    """Write ``url/translator.safetensors`` (weights in ``dtype``; float16 halves a shipped file) then
    ``url/translator.json`` (the JSON last: it marks completion)."""
    state = {k: v.detach().cpu().to(dtype).contiguous() for k, v in translator.state_dict().items()}
    full = {**meta, "unet_config": dict(translator.unet.config), "tasks": translator.num_tasks}
    write_artifact(url, {WEIGHTS: save_safetensors(state)}, META, full)


def load_translator(url: str) -> tuple[Translator, dict]:
    """Read a translator saved by :func:`save_translator` (safetensors and JSON only, nothing unpickled)."""
    meta = read_translator_meta(url)
    state = load_safetensors(read_file(url, WEIGHTS))
    unet = UNet2DConditionModel.from_config(meta["unet_config"])
    translator = Translator(unet, state["task_tokens"].float())
    translator.load_state_dict(state)  # float16 files load into float32 parameters
    return translator.eval().requires_grad_(False), meta
