"""Built-in model presets: tiny seeded random-weight models built from configs (no files, for tests/smoke runs).
torch and diffusers are imported when a preset is built, not with this module: the driver only needs the names."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from rayedit.models.diffusion import DiffusionModel

RANDOM_NOTE = "preset {name!r} has RANDOM weights: outputs and scores are for tests and smoke runs, not meaningful"


def _schedule() -> torch.Tensor:
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000).alphas_cumprod.double()


def tiny_pixel(seed: int = 0) -> DiffusionModel:
    """A 32-px unconditional UNet2DModel with seeded random weights."""
    import torch
    from diffusers import UNet2DModel

    from rayedit.models.diffusion import DiffusionModel

    torch.manual_seed(seed)
    unet = UNet2DModel(
        sample_size=32, in_channels=3, out_channels=3, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=8, attention_head_dim=8,
    )
    return DiffusionModel(
        unet=unet.eval(), alphas_cumprod=_schedule(), prediction_type="epsilon", resolution=32,
        model_id="tiny", random_weights=True, notes=[RANDOM_NOTE.format(name="tiny")],
    )


def tiny_latent(seed: int = 0) -> DiffusionModel:
    """A 32-px latent model: tiny AutoencoderKL (factor 2) + UNet2DConditionModel + tiny open_clip text tower."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from rayedit.models.clip import load_clip
    from rayedit.models.diffusion import DiffusionModel
    from rayedit.models.text import OpenClipTextEncoder

    torch.manual_seed(seed)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 32), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=8, sample_size=32,
    )
    clip = load_clip("tiny", seed=seed)
    text = OpenClipTextEncoder(clip.model, clip.tokenizer)
    unet = UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=text.width, norm_num_groups=8, attention_head_dim=8,
    )
    return DiffusionModel(
        unet=unet.eval(), alphas_cumprod=_schedule(), prediction_type="epsilon", resolution=32,
        model_id="tiny-latent", vae=vae.eval(), text_encoder=text.eval(), vae_scale=float(vae.config.scaling_factor),
        random_weights=True, notes=[RANDOM_NOTE.format(name="tiny-latent")],
    )


PRESETS = {"tiny": tiny_pixel, "tiny-latent": tiny_latent}
