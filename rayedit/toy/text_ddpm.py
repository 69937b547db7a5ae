"""The toy world's text-conditioned pixel DDPM: cross-attention on the toy CLIP's text tokens.

Trained with caption dropout (the empty caption), so classifier-free guidance works. Saved as a diffusers-style
pipeline folder whose ``model_index.json`` names its text encoder as an open_clip model (``["open_clip",
"toy-clip"]``) instead of copying the CLIP weights; the loader resolves that name like any CLIP name.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import diffusers
import numpy as np
import torch
from diffusers import UNet2DConditionModel

from rayedit.stages.model_output import to_model_range
from rayedit.toy.clip_train import caption_variant
from rayedit.toy.ddpm import DDPMTrainConfig, build_scheduler, start_weights, train_denoiser
from rayedit.toy.generator import sample_at

TEXT_ENCODER = "toy-clip"


@dataclass(frozen=True)
class TextDDPMTrainConfig(DDPMTrainConfig):
    """Settings of one toy text-conditioned DDPM run (saved beside the weights)."""

    steps: int = 3600
    data_seed: int = 3000
    caption_dropout: float = 0.1
    """Share of samples trained with the empty caption: the unconditional branch of classifier-free guidance."""
    short_caption_share: float = 0.2
    """Share of samples captioned 'a {colour} {shape}' (the background left to the model)."""
    text_encoder: str = TEXT_ENCODER
    """open_clip model whose (frozen) text tower conditions the U-Net."""


def build_text_unet(cross_attention_dim: int) -> UNet2DConditionModel:
    """32 -> 16 -> 8 px at widths 32/64/64; cross-attention at 8 px and in the middle block (colour and shape are
    global attributes; attention at 16 px doubled the step time on CPU)."""
    return UNet2DConditionModel(
        sample_size=32, in_channels=3, out_channels=3, layers_per_block=1, block_out_channels=(32, 64, 64),
        down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        cross_attention_dim=cross_attention_dim, attention_head_dim=16, norm_num_groups=8,
    )


class CaptionCache:
    """Text-tower hidden states per caption, computed once (the toy world has a few dozen captions)."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.cache: dict[str, torch.Tensor] = {}

    def __call__(self, captions: list[str]) -> torch.Tensor:
        missing = sorted({c for c in captions if c not in self.cache})
        if missing:
            self.cache.update(zip(missing, self.encoder(missing).float(), strict=True))
        return torch.stack([self.cache[c] for c in captions])


def training_batch(cfg: TextDDPMTrainConfig, step: int) -> tuple[torch.Tensor, list[str]]:
    """Images in [-1, 1] and their training captions ('' for dropped ones); deterministic in the step."""
    rng = np.random.default_rng([cfg.data_seed, step, 2])
    imgs, caps = [], []
    for j in range(cfg.batch_size):
        s, img = sample_at(cfg.data_seed, step * cfg.batch_size + j)
        cap, _ = caption_variant(s, rng, cfg.short_caption_share)
        imgs.append(img)
        caps.append("" if rng.random() < cfg.caption_dropout else cap)
    return to_model_range(np.stack(imgs)), caps


def save_text_ddpm(unet: UNet2DConditionModel, out_dir: Path, text_encoder: str) -> None:
    """Pipeline folder: unet/, scheduler/ and a model_index.json that names the open_clip text encoder."""
    unet.save_pretrained(out_dir / "unet", safe_serialization=True)
    build_scheduler().save_pretrained(out_dir / "scheduler")
    index = {"_class_name": "RayeditTextToImagePixelPipeline", "_diffusers_version": diffusers.__version__,
             "unet": ["diffusers", "UNet2DConditionModel"], "scheduler": ["diffusers", "DDPMScheduler"],
             "text_encoder": ["open_clip", text_encoder]}
    (out_dir / "model_index.json").write_text(json.dumps(index, indent=2))


def train_text_ddpm(out_dir: str | Path, cfg: TextDDPMTrainConfig = TextDDPMTrainConfig(),
                    progress: bool = True) -> dict:
    """Train the toy text-conditioned DDPM on the frozen toy CLIP text tower; save under ``out_dir``."""
    from rayedit.models.clip import load_clip
    from rayedit.models.text import OpenClipTextEncoder

    clip = load_clip(cfg.text_encoder)
    if clip.random_weights:
        raise ValueError(f"text encoder {cfg.text_encoder!r} has random weights; train the toy CLIP first")
    text = CaptionCache(OpenClipTextEncoder(clip.model, clip.tokenizer).eval())
    torch.manual_seed(cfg.seed)
    unet = build_text_unet(clip.model.text.width)
    previous = start_weights(unet, cfg)

    def batches(step: int):
        x0, caps = training_batch(cfg, step)
        return x0, text(caps)

    ema, info = train_denoiser(unet, batches, cfg, "toy-text-ddpm", progress)
    out_dir = Path(out_dir)
    save_text_ddpm(ema, out_dir, cfg.text_encoder)
    info["config"] = asdict(cfg)
    if previous is not None:
        info["continued_from"] = previous
    (out_dir / "train.json").write_text(json.dumps(info, indent=2))
    return info
