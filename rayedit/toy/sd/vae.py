"""toy-sd's autoencoder: diffusers' ``AutoencoderKL``, 64-px RGB <-> 16x16x4 latents (factor 4, as SD's 512 <-> 64).

Trained like SD's first stage without its perceptual and adversarial terms (the toy world's flat shapes need
neither): pixel L1 + MSE and a small KL term, mostly on 32-px random crops (the network is convolutional; crops cost
a quarter), then on whole images. The latent scaling factor is measured afterwards as SD's was: 1 / std of the
latents of held-out images.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL
from tqdm import tqdm

from rayedit.stages.model_output import to_model_range
from rayedit.toy.scenes import RES, scene_at


@dataclass(frozen=True)
class VAETrainConfig:
    """Settings of one toy-sd VAE run (saved beside the weights)."""

    steps: int = 3000
    """Optimizer steps on ``crop``-px crops."""
    full_steps: int = 400
    """Optimizer steps on whole 64-px images, after the crop steps."""
    batch_size: int = 32
    crop: int = 32
    lr: float = 5e-4
    """Peak Adam learning rate (100-step warm-up, cosine decay to 10% over all steps)."""
    kl_weight: float = 1e-6
    """Weight of the KL term (SD's first stage: 1e-6): enough to keep latents bounded, too little to blur them."""
    seed: int = 0
    data_seed: int = 11000
    """v2 scene stream used for training; evaluation uses other seeds."""
    eval_seed: int = 11999
    """Scenes the held-out PSNR in the history and the scaling factor are measured on."""
    threads: int = 0
    """torch threads (0: torch's default)."""
    max_minutes: float = 0.0
    """Stop early after this many minutes (0: no limit); the weights so far are saved."""
    continue_from: str = ""
    """A folder with vae/ (a previous run) whose weights start this run."""
    decoder_only: bool = False
    """Train the decoder only, the encoder frozen (as SD's improved VAEs were fine-tuned): the latent space - and
    so any U-Net trained on it - stays the same while reconstructions sharpen."""
    edge_weight: float = 0.0
    """Extra weight of the pixel loss on edges (where any channel changes by > 0.1 to a neighbour, dilated by one
    pixel): 0 = plain L1 + MSE. Small shapes' corners are edges; a soft corner reads as another shape."""


def build_vae() -> AutoencoderKL:
    """~0.95 M parameters: widths 32/64/64, one ResNet per level, SD's mid-block attention at 16x16."""
    return AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3, block_out_channels=(32, 64, 64), layers_per_block=1,
        latent_channels=4, norm_num_groups=16, sample_size=RES,
    )


def scene_batch(seed: int, start: int, n: int) -> torch.Tensor:
    """Scenes ``start .. start + n`` of the ``seed`` stream in [-1, 1], (n, 3, 64, 64)."""
    return to_model_range(np.stack([scene_at(seed, start + j)[1] for j in range(n)]))


def random_crops(x: torch.Tensor, size: int, rng: np.random.Generator) -> torch.Tensor:
    """One random ``size``-px crop per image, at multiples of 4 (whole latent cells)."""
    if size >= x.shape[-1]:
        return x
    offsets = rng.integers(0, (x.shape[-1] - size) // 4 + 1, size=(len(x), 2)) * 4
    return torch.stack([img[:, y:y + size, x_:x_ + size] for img, (y, x_) in zip(x, offsets, strict=True)])


@torch.no_grad()
def edge_map(x: torch.Tensor, step: float = 0.1) -> torch.Tensor:
    """(B, 1, H, W) 1.0 on pixels next to a colour change > ``step`` (any channel, [-1, 1] range), dilated by one
    pixel; 0.0 elsewhere."""
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().amax(1, keepdim=True)
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().amax(1, keepdim=True)
    e = torch.stack([F.pad(dx, (0, 1)), F.pad(dx, (1, 0)), F.pad(dy, (0, 0, 0, 1)), F.pad(dy, (0, 0, 1, 0))])
    e = e.amax(0) > step  # both pixels of a changing pair
    return F.max_pool2d(e.float(), 3, 1, 1)


@torch.no_grad()
def reconstruction_psnr(vae: AutoencoderKL, x: torch.Tensor) -> float:
    """Median PSNR (dB, 0-255 range) of encode(mean) -> decode over images ``x`` in [-1, 1]."""
    rec = vae.decode(vae.encode(x).latent_dist.mean).sample.clamp(-1, 1)
    mse = ((rec - x) * 127.5).pow(2).mean(dim=(1, 2, 3))
    return float(torch.median(10 * torch.log10(255.0**2 / mse.clamp_min(1e-10))))


@torch.no_grad()
def measure_scaling_factor(vae: AutoencoderKL, x: torch.Tensor) -> float:
    """1 / std of sampled latents of ``x`` (how SD's 0.18215 was found): scaled latents have unit variance."""
    return float(1.0 / vae.encode(x).latent_dist.sample().std())


def train_vae(out_dir: str | Path, cfg: VAETrainConfig = VAETrainConfig(), progress: bool = True) -> dict:
    """Train the toy-sd VAE; save ``out_dir/vae`` (diffusers layout, scaling factor set) and ``train.json``."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    vae = build_vae()
    previous = None
    if cfg.continue_from:
        vae = AutoencoderKL.from_pretrained(Path(cfg.continue_from) / "vae")
        found = Path(cfg.continue_from) / "train.json"
        previous = json.loads(found.read_text()) if found.exists() else {}
    vae.train()
    if cfg.decoder_only:
        for part in (vae.encoder, vae.quant_conv):
            part.requires_grad_(False)
    opt = torch.optim.Adam([p for p in vae.parameters() if p.requires_grad], lr=cfg.lr)
    held = scene_batch(cfg.eval_seed, 0, 64)
    total = cfg.steps + cfg.full_steps
    start, losses, history, step = time.time(), [], [], -1
    bar = tqdm(range(total), desc="toy-sd vae", disable=not progress)
    for step in bar:
        for g in opt.param_groups:
            g["lr"] = cfg.lr * min(1.0, (step + 1) / 100) * (0.1 + 0.45 * (1 + math.cos(math.pi * step / total)))
        rng = np.random.default_rng([cfg.data_seed, step, 7])
        x = scene_batch(cfg.data_seed, step * cfg.batch_size, cfg.batch_size)
        if step < cfg.steps:
            x = random_crops(x, cfg.crop, rng)
        posterior = vae.encode(x).latent_dist
        rec = vae.decode(posterior.sample(generator=torch.Generator().manual_seed(int(rng.integers(2**31))))).sample
        weight = 1.0 + cfg.edge_weight * edge_map(x) if cfg.edge_weight else 1.0
        loss = ((rec - x).abs() + (rec - x).pow(2)).mul(weight).mean() + cfg.kl_weight * posterior.kl().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        if step % 250 == 0 or step == total - 1:
            vae.eval()
            history.append({"step": step, "loss": float(np.mean(losses[-50:])),
                            "held_out_psnr": reconstruction_psnr(vae, held[:16]),
                            "minutes": (time.time() - start) / 60})
            vae.train()
            bar.set_postfix(loss=f"{history[-1]['loss']:.4f}", psnr=f"{history[-1]['held_out_psnr']:.1f}")
        if cfg.max_minutes and time.time() - start > cfg.max_minutes * 60:
            break
    vae.eval()
    if not cfg.decoder_only:  # a frozen encoder keeps the latents, and with them the scaling factor
        vae.register_to_config(scaling_factor=measure_scaling_factor(vae, held))
    out_dir = Path(out_dir)
    vae.save_pretrained(out_dir / "vae", safe_serialization=True)
    info = {"config": asdict(cfg), "steps_done": step + 1, "minutes": (time.time() - start) / 60,
            "scaling_factor": vae.config.scaling_factor, "held_out_psnr_median": reconstruction_psnr(vae, held),
            "history": history, "params": sum(p.numel() for p in vae.parameters())}
    if previous is not None:
        info["continued_from"] = previous
    (out_dir / "train.json").write_text(json.dumps(info, indent=2))
    return info
