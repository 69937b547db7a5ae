"""The toy world's unconditional pixel DDPM: architecture, noise schedule and training loop.

Trained on generator samples streamed on the fly (never the same image twice), v-prediction on a cosine
schedule, EMA weights. Saved in diffusers' DDPMPipeline layout, so loading it is the same code path as any
local checkpoint.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel
from tqdm import tqdm

from rayedit.stages.model_output import to_model_range
from rayedit.toy.generator import sample_at


@dataclass(frozen=True)
class DDPMTrainConfig:
    """Settings of one toy DDPM training run (saved beside the weights)."""

    steps: int = 12000
    batch_size: int = 64
    lr: float = 3e-4
    """Peak AdamW learning rate, reached after ``warmup_steps``."""
    lr_schedule: str = "cosine"
    """After the warm-up: ``cosine`` decays to 10% at ``steps``; ``constant`` stays at ``lr`` (for continuing a run
    whose cosine schedule has ended)."""
    warmup_steps: int = 200
    ema_decay: float = 0.999
    """EMA of the weights: what gets saved (much cleaner samples than the raw weights after short training)."""
    seed: int = 0
    """Seed of the weights' init and of the timesteps and noise drawn each step."""
    data_seed: int = 1000
    """Generator stream used for training; evaluation uses other seeds."""
    max_minutes: float = 0.0
    """Stop early after this many minutes (0: no limit); the EMA weights so far are saved."""
    threads: int = 0
    """torch threads (0: torch's default)."""
    bf16: bool = False
    """bf16 autocast: faster only on CPUs/GPUs with bf16 units (2.5x SLOWER on this project's 2-core Xeons)."""
    continue_from: str = ""
    """Pipeline folder whose U-Net weights start this run (EMA too); its train.json is kept in the new one's."""

    def __post_init__(self):
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"lr_schedule must be 'cosine' or 'constant', not {self.lr_schedule!r}")


def build_unet() -> UNet2DModel:
    """~1.1 M parameters: 32 -> 16 -> 8 px at widths 32/64/64, self-attention only in the middle (cheap on CPU)."""
    return UNet2DModel(
        sample_size=32, in_channels=3, out_channels=3, layers_per_block=1, block_out_channels=(32, 64, 64),
        down_block_types=("DownBlock2D", "DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D", "UpBlock2D"), norm_num_groups=8, attention_head_dim=16,
    )


def build_scheduler() -> DDPMScheduler:
    """Cosine schedule (Nichol & Dhariwal), v-prediction: stable targets at both ends of the schedule."""
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction",
                         clip_sample=False)


def batch_at(cfg: DDPMTrainConfig, step: int) -> torch.Tensor:
    """Training images of one step in [-1, 1], (B, 3, 32, 32); deterministic in (data_seed, step)."""
    imgs = [sample_at(cfg.data_seed, step * cfg.batch_size + j)[1] for j in range(cfg.batch_size)]
    return to_model_range(np.stack(imgs))


def learning_rate(cfg: DDPMTrainConfig, step: int) -> float:
    """The learning rate of ``step``: linear warm-up, then cosine decay to 10% or constant."""
    decay = 1.0 if cfg.lr_schedule == "constant" else 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))
    return cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup_steps)) * decay


Batch = Callable[[int], tuple[torch.Tensor, torch.Tensor | None]]
"""step -> (images in [-1, 1], encoder hidden states or None): what one training step sees."""


def unet_prediction(unet: torch.nn.Module, xt: torch.Tensor, t: torch.Tensor, ctx) -> torch.Tensor:
    """A diffusers U-Net's output for (x_t, t) and, when given, its encoder hidden states."""
    return unet(xt, t, **({} if ctx is None else {"encoder_hidden_states": ctx})).sample


def train_denoiser(unet: torch.nn.Module, batches: Batch, cfg: DDPMTrainConfig, desc: str,
                   progress: bool = True, alphas_cumprod: torch.Tensor | None = None, predict=unet_prediction,
                   on_step=None) -> tuple[torch.nn.Module, dict]:
    """The shared training loop: v-prediction MSE, AdamW, EMA. Returns (EMA model, info). ``alphas_cumprod``: the
    noise schedule (default the toy DDPMs' cosine one); ``predict(model, x_t, t, ctx)``: the model's output, for
    models that are more than one U-Net (toy-sd trains its text encoder too); ``on_step(step, ema)`` runs after
    each step (periodic saves)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    ema = copy.deepcopy(unet).requires_grad_(False)
    opt = torch.optim.AdamW(unet.parameters(), lr=cfg.lr, weight_decay=0.0)
    a = build_scheduler().alphas_cumprod if alphas_cumprod is None else alphas_cumprod
    gen = torch.Generator().manual_seed(cfg.seed)
    start, losses, step = time.time(), [], 0
    bar = tqdm(range(cfg.steps), desc=desc, disable=not progress)
    for step in bar:
        for g in opt.param_groups:
            g["lr"] = learning_rate(cfg, step)
        x0, ctx = batches(step)
        t = torch.randint(0, 1000, (x0.shape[0],), generator=gen)
        noise = torch.randn(x0.shape, generator=gen)
        at = a[t].view(-1, 1, 1, 1)
        xt = at.sqrt() * x0 + (1 - at).sqrt() * noise  # q(x_t | x_0), DDPM Eq. 4
        v = at.sqrt() * noise - (1 - at).sqrt() * x0  # v-prediction target (Salimans & Ho)
        with torch.autocast(x0.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            pred = predict(unet, xt, t, ctx)
        loss = F.mse_loss(pred.float(), v)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), unet.parameters(), strict=True):
                pe.lerp_(p, 1 - cfg.ema_decay)
        losses.append(loss.item())
        if step % 50 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
        if on_step is not None:
            on_step(step, ema)
        if cfg.max_minutes and time.time() - start > cfg.max_minutes * 60:
            break
    info = {"config": asdict(cfg), "steps_done": step + 1, "minutes": (time.time() - start) / 60,
            "final_loss_mean_last_200": float(np.mean(losses[-200:])),
            "params": sum(p.numel() for p in unet.parameters())}
    return ema.eval(), info


def start_weights(unet: torch.nn.Module, cfg: DDPMTrainConfig) -> dict | None:
    """Load ``cfg.continue_from``'s U-Net weights into ``unet``; return that run's train.json (None: fresh start)."""
    if not cfg.continue_from:
        return None
    from safetensors.torch import load_file

    folder = Path(cfg.continue_from)
    files = sorted((folder / "unet").glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"continue_from: no unet/*.safetensors under {folder}")
    unet.load_state_dict(load_file(files[0]))
    previous = folder / "train.json"
    return json.loads(previous.read_text()) if previous.exists() else {}


def train_ddpm(out_dir: str | Path, cfg: DDPMTrainConfig = DDPMTrainConfig(), progress: bool = True) -> dict:
    """Train the toy DDPM and save it (DDPMPipeline layout + train.json) under ``out_dir``."""
    torch.manual_seed(cfg.seed)
    unet = build_unet()
    previous = start_weights(unet, cfg)
    ema, info = train_denoiser(unet, lambda step: (batch_at(cfg, step), None), cfg, "toy-ddpm", progress)
    if previous is not None:
        info["continued_from"] = previous
    out_dir = Path(out_dir)
    DDPMPipeline(unet=ema, scheduler=build_scheduler()).save_pretrained(out_dir, safe_serialization=True)
    (out_dir / "train.json").write_text(json.dumps(info, indent=2))
    return info
