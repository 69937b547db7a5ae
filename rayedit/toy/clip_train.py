"""The toy world's small CLIP: an open_clip custom config trained contrastively on generator images.

Saved in open_clip's own folder format (``open_clip_config.json`` + ``open_clip_model.safetensors``), so it loads
with ``open_clip.create_model("local-dir:PATH")`` like any checkpoint from the hub. The text tower uses open_clip's
shipped BPE tokenizer; its 49408-row token table is most of the file, stored in fp16 to keep the package small.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tqdm import tqdm

from rayedit.toy.clip_v2_batches import v2_batch_at
from rayedit.toy.generator import sample_at

TOY_CLIP_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "layers": 3, "width": 128, "patch_size": 4, "head_width": 32, "mlp_ratio": 2.0},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
"""ViT on 4x4 patches of 32-px images; a 2-layer text transformer. Captions of the toy world are ~11 tokens."""

TOY_CLIP_V2_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 3, "width": 128, "patch_size": 8, "head_width": 32, "mlp_ratio": 2.0},
    "text_cfg": {"context_length": 24, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
"""The v2 world's CLIP (toy-clip-v2): the same towers on 8x8 patches of 64-px scenes; captions up to ~19 tokens."""

CONFIGS = {"v1": TOY_CLIP_CONFIG, "v2": TOY_CLIP_V2_CONFIG}

PREPROCESS = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "interpolation": "bicubic", "resize_mode": "shortest"}


@dataclass(frozen=True)
class ClipTrainConfig:
    """Settings of one toy CLIP training run (saved beside the weights)."""

    steps: int = 600
    batch_size: int = 128
    lr: float = 1e-3
    """Peak AdamW learning rate; cosine decay after a 50-step warm-up."""
    short_caption_share: float = 0.3
    """Share of samples captioned 'a {colour} {shape}' instead of the full caption (so short prompts work too)."""
    seed: int = 0
    data_seed: int = 2000
    """Generator stream used for training; evaluation uses other seeds."""
    max_minutes: float = 0.0
    """Stop early after this many minutes (0: no limit)."""
    world: str = "v1"
    """``v1``: one object per 32-px image (toy-clip); ``v2``: 64-px scenes, each beside its one-object recolour
    (toy-clip-v2, :mod:`rayedit.toy.clip_v2_batches`)."""


def caption_variant(sample, rng: np.random.Generator, short_share: float) -> tuple[str, tuple]:
    """A caption and the attributes it names: (colour, shape, background or None)."""
    if rng.random() < short_share:
        return f"a {sample.colour} {sample.shape}", (sample.colour, sample.shape, None)
    return sample.caption, (sample.colour, sample.shape, sample.background)


def match_matrix(img_attrs: list[tuple], txt_attrs: list[tuple]) -> torch.Tensor:
    """M[i, j] = 1 when caption j is true of image i (every attribute it names matches); the contrastive targets."""
    m = torch.zeros(len(img_attrs), len(txt_attrs))
    for i, a in enumerate(img_attrs):
        for j, b in enumerate(txt_attrs):
            m[i, j] = float(all(y is None or x == y for x, y in zip(a, b, strict=True)))
    return m


def batch_at(cfg: ClipTrainConfig, step: int) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """Images in [0, 1], captions and the image-caption match matrix of one step (deterministic in the step)."""
    rng = np.random.default_rng([cfg.data_seed, step, 1])
    imgs, caps, img_attrs, txt_attrs = [], [], [], []
    for j in range(cfg.batch_size):
        s, img = sample_at(cfg.data_seed, step * cfg.batch_size + j)
        cap, attrs = caption_variant(s, rng, cfg.short_caption_share)
        imgs.append(img)
        caps.append(cap)
        img_attrs.append((s.colour, s.shape, s.background))
        txt_attrs.append(attrs)
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255
    return x, caps, match_matrix(img_attrs, txt_attrs)


def soft_contrastive_loss(logits: torch.Tensor, match: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric InfoNCE with every true caption a positive (toy captions repeat within a batch)."""
    t_img = match / match.sum(1, keepdim=True)
    t_txt = match.T / match.T.sum(1, keepdim=True)
    loss_i = -(t_img * F.log_softmax(logits, dim=1)).sum(1).mean()
    loss_t = -(t_txt * F.log_softmax(logits.T, dim=1)).sum(1).mean()
    return (loss_i + loss_t) / 2


def build_clip(world: str = "v1") -> torch.nn.Module:
    """A fresh toy CLIP (random weights) of ``world``'s config."""
    return open_clip.CustomTextCLIP(**CONFIGS[world])


def save_clip(model: torch.nn.Module, out_dir: Path, world: str = "v1") -> None:
    """open_clip folder layout; the token table in fp16, everything else fp32."""
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if k.endswith("token_embedding.weight") else v).contiguous()
             for k, v in model.state_dict().items()}
    save_file(state, str(out_dir / "open_clip_model.safetensors"))
    cfg = {"model_cfg": {**CONFIGS[world], "custom_text": True}, "preprocess_cfg": PREPROCESS}
    (out_dir / "open_clip_config.json").write_text(json.dumps(cfg, indent=2))


def train_clip(out_dir: str | Path, cfg: ClipTrainConfig = ClipTrainConfig(), progress: bool = True) -> dict:
    """Train the toy CLIP and save it (open_clip folder layout + train.json) under ``out_dir``."""
    if cfg.world not in CONFIGS:
        raise ValueError(f"world must be one of {sorted(CONFIGS)}, not {cfg.world!r}")
    torch.manual_seed(cfg.seed)
    model = build_clip(cfg.world).train()
    tokenizer = open_clip.SimpleTokenizer(context_length=CONFIGS[cfg.world]["text_cfg"]["context_length"])
    mean = torch.tensor(PREPROCESS["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(PREPROCESS["std"]).view(1, 3, 1, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.05)
    start, losses, step = time.time(), [], 0
    bar = tqdm(range(cfg.steps), desc="toy-clip", disable=not progress)
    for step in bar:
        lr = cfg.lr * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        if cfg.world == "v2":
            x, caps, match = v2_batch_at(cfg.data_seed, step, cfg.batch_size, cfg.short_caption_share)
        else:
            x, caps, match = batch_at(cfg, step)
        img = F.normalize(model.encode_image((x - mean) / std), dim=-1)
        txt = F.normalize(model.encode_text(tokenizer(caps)), dim=-1)
        loss = soft_contrastive_loss(model.logit_scale.exp().clamp(max=100) * img @ txt.T, match)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % 10 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-10:]):.3f}")
        if cfg.max_minutes and time.time() - start > cfg.max_minutes * 60:
            break
    out_dir = Path(out_dir)
    save_clip(model.eval(), out_dir, cfg.world)
    info = {"config": asdict(cfg), "steps_done": step + 1, "minutes": (time.time() - start) / 60,
            "final_loss_mean_last_50": float(np.mean(losses[-50:])),
            "params": sum(p.numel() for p in model.parameters())}
    (out_dir / "train.json").write_text(json.dumps(info, indent=2))
    return info
