"""toy-sd's denoiser and text encoder: a latent ``UNet2DConditionModel`` cross-attending to a ``CLIPTextModel``,
trained together on the frozen VAE's latents of v2 scenes.

SD keeps a contrastively pretrained CLIP text encoder frozen. We train ours with the U-Net instead, because the v1
toy CLIP's 16-token context cannot hold a three-object caption and a contrastive text tower binds colours to shapes
poorly (it is rewarded for a bag of words), while this U-Net must draw each colour on the right shape. The
architecture is SD's (transformers' CLIPTextModel, causal, last hidden state), only small.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel

from rayedit.stages.model_output import to_model_range
from rayedit.toy.ddpm import DDPMTrainConfig, train_denoiser
from rayedit.toy.scenes import Scene, scene_at
from rayedit.toy.sd.tokenizer import MAX_LENGTH, build_tokenizer

TEXT_WIDTH = 128


@dataclass(frozen=True)
class SDUNetTrainConfig(DDPMTrainConfig):
    """Settings of one toy-sd U-Net + text encoder run (saved beside the weights)."""

    steps: int = 8000
    data_seed: int = 12000
    caption_dropout: float = 0.1
    """Share of samples trained with the empty caption: the unconditional branch of classifier-free guidance."""
    no_background_share: float = 0.15
    """Share of samples captioned without their background ('a red circle and a blue square')."""
    vae_from: str = ""
    """Folder with the trained vae/ (required): its latents are what the U-Net learns."""
    save_every: int = 500
    """Write the pipeline (EMA weights so far) every this many steps, so a killed run can continue from it."""


def build_scheduler() -> DDIMScheduler:
    """SD's noise schedule (scaled_linear, 0.00085..0.012) with v-prediction and SD's inference settings
    (leading spacing, steps_offset 1), as Stable Diffusion 2.x ships it."""
    return DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                         prediction_type="v_prediction", clip_sample=False, set_alpha_to_one=False, steps_offset=1,
                         timestep_spacing="leading")


def build_text_encoder(vocab_size: int, bos: int, eos: int):
    """A 3-layer, 128-wide CLIPTextModel (~0.5 M parameters) over the pruned toy vocabulary."""
    from transformers import CLIPTextConfig, CLIPTextModel

    cfg = CLIPTextConfig(vocab_size=vocab_size, hidden_size=TEXT_WIDTH, intermediate_size=4 * TEXT_WIDTH,
                         num_hidden_layers=3, num_attention_heads=4, max_position_embeddings=MAX_LENGTH,
                         hidden_act="gelu", projection_dim=TEXT_WIDTH, bos_token_id=bos, eos_token_id=eos,
                         pad_token_id=eos)
    return CLIPTextModel(cfg)


def build_unet() -> UNet2DConditionModel:
    """16x16x4 latents, widths 64/96/128, cross-attention at 8x8, 4x4 and in the middle (~5.5 M parameters)."""
    return UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(64, 96, 128),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=TEXT_WIDTH, attention_head_dim=32, norm_num_groups=16,
    )


def training_caption(scene: Scene, rng: np.random.Generator, cfg: SDUNetTrainConfig) -> str:
    """The caption one training sample sees: '' (dropout), without the background, or the full caption."""
    u = rng.random()
    if u < cfg.caption_dropout:
        return ""
    if u < cfg.caption_dropout + cfg.no_background_share:
        return scene.caption.rsplit(" on a ", 1)[0]
    return scene.caption


class Denoiser(torch.nn.Module):
    """The U-Net and the text encoder trained as one module (one optimizer, one EMA)."""

    def __init__(self, unet: UNet2DConditionModel, text_encoder):
        super().__init__()
        self.unet, self.text_encoder = unet, text_encoder

    def forward(self, xt: torch.Tensor, t: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return self.unet(xt, t, encoder_hidden_states=self.text_encoder(ids)[0]).sample


def start_from(folder: str, denoiser: Denoiser) -> dict:
    """Load a previous toy-sd folder's U-Net and text encoder into ``denoiser``; return its train.json."""
    from transformers import CLIPTextModel

    denoiser.unet.load_state_dict(UNet2DConditionModel.from_pretrained(folder, subfolder="unet").state_dict())
    text = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder")
    denoiser.text_encoder.load_state_dict(text.state_dict())
    found = Path(folder) / "train.json"
    return json.loads(found.read_text()) if found.exists() else {}


def save_pipeline(out_dir: Path, vae: AutoencoderKL, denoiser: Denoiser, tokenizer, half: bool = False) -> None:
    """Write the pipeline with diffusers' own ``StableDiffusionPipeline.save_pretrained`` (safetensors; fp16 when
    ``half``, as shipped)."""
    import copy

    from diffusers import StableDiffusionPipeline

    parts = {"vae": vae, "unet": denoiser.unet, "text_encoder": denoiser.text_encoder}
    if half:
        parts = {k: copy.deepcopy(v).half() for k, v in parts.items()}
    pipe = StableDiffusionPipeline(**parts, tokenizer=tokenizer, scheduler=build_scheduler(), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(out_dir, safe_serialization=True)


def train_sd_unet(out_dir: str | Path, cfg: SDUNetTrainConfig, progress: bool = True) -> dict:
    """Train toy-sd's U-Net and text encoder on the latents of ``cfg.vae_from``'s VAE; save the whole pipeline
    under ``out_dir`` (every ``save_every`` steps, and at the end) with train.json."""
    if not cfg.vae_from:
        raise ValueError("vae_from: the folder of a trained toy-sd VAE (rayedit toy train sd-vae)")
    out_dir = Path(out_dir)
    vae = AutoencoderKL.from_pretrained(cfg.vae_from, subfolder="vae").eval().requires_grad_(False)
    tokenizer = build_tokenizer()
    torch.manual_seed(cfg.seed)
    denoiser = Denoiser(build_unet(), build_text_encoder(len(tokenizer), tokenizer.bos_token_id,
                                                         tokenizer.eos_token_id))
    previous = start_from(cfg.continue_from, denoiser) if cfg.continue_from else None
    scale = vae.config.scaling_factor

    def batches(step: int):
        rng = np.random.default_rng([cfg.data_seed, step, 3])
        scenes, imgs = zip(*(scene_at(cfg.data_seed, step * cfg.batch_size + j) for j in range(cfg.batch_size)),
                           strict=True)
        with torch.no_grad():
            latents = vae.encode(to_model_range(np.stack(imgs))).latent_dist.sample(
                generator=torch.Generator().manual_seed(int(rng.integers(2**31)))) * scale
        caps = [training_caption(s, rng, cfg) for s in scenes]
        ids = tokenizer(caps, padding="max_length", max_length=MAX_LENGTH, truncation=True,
                        return_tensors="pt").input_ids
        return latents, ids

    def save(step: int, ema: Denoiser, info: dict | None = None) -> None:
        save_pipeline(out_dir, vae, ema, tokenizer)
        record = info or {"config": asdict(cfg), "steps_done": step + 1}
        if previous is not None:
            record["continued_from"] = previous
        (out_dir / "train.json").write_text(json.dumps(record, indent=2))

    def on_step(step: int, ema: Denoiser) -> None:
        if cfg.save_every and (step + 1) % cfg.save_every == 0:
            save(step, ema)

    ema, info = train_denoiser(denoiser.train(), batches, cfg, "toy-sd unet", progress,
                               alphas_cumprod=build_scheduler().alphas_cumprod, predict=lambda m, x, t, c: m(x, t, c),
                               on_step=on_step)
    info["config"] = asdict(cfg)
    save(info["steps_done"] - 1, ema.eval(), info)
    return info
