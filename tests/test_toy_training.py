"""Toy model training code: contrastive targets, the loss, and a few-step train -> save -> load round trip."""

import numpy as np
import pytest
import torch

from rayedit.cli.common import dataclass_overrides
from rayedit.config import ModelSpec
from rayedit.models.clip import load_clip
from rayedit.models.layout import model_resolution
from rayedit.models.load import load_diffusion
from rayedit.toy.clip_train import ClipTrainConfig, caption_variant, match_matrix, soft_contrastive_loss, train_clip
from rayedit.toy.ddpm import DDPMTrainConfig, learning_rate
from rayedit.toy.generator import sample_at
from rayedit.toy.text_ddpm import TextDDPMTrainConfig, train_text_ddpm, training_batch


def test_short_captions_match_every_background():
    imgs = [("red", "circle", "white"), ("red", "circle", "black"), ("blue", "circle", "white")]
    txts = [("red", "circle", None), ("red", "circle", "white")]
    m = match_matrix(imgs, txts)
    assert m.tolist() == [[1, 1], [1, 0], [0, 0]]


def test_caption_variants_name_what_is_drawn():
    rng = np.random.default_rng(0)
    s, _ = sample_at(0, 0)
    caps = {caption_variant(s, rng, 0.5)[0] for _ in range(50)}
    assert caps == {s.caption, f"a {s.colour} {s.shape}"}


def test_soft_contrastive_loss_prefers_aligned_embeddings():
    match = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    aligned = 10 * (match * 2 - 1)
    assert soft_contrastive_loss(aligned, match) < soft_contrastive_loss(-aligned, match)
    # the two equally true captions share the target mass: its minimum is ln 2 on those rows, not 0
    assert soft_contrastive_loss(aligned, match) > 0.3


def test_caption_dropout_share():
    caps = [c for step in range(10) for c in training_batch(TextDDPMTrainConfig(batch_size=64), step)[1]]
    assert 0.05 < caps.count("") / len(caps) < 0.15


def test_clip_then_text_ddpm_train_save_and_load(tmp_path):
    torch.set_num_threads(2)
    info = train_clip(tmp_path / "clip", ClipTrainConfig(steps=2, batch_size=8), progress=False)
    assert info["steps_done"] == 2
    clip = load_clip(str(tmp_path / "clip"))
    assert not clip.random_weights and clip.image_size == 32
    assert clip.model.text.token_embedding.weight.dtype == torch.float32  # the fp16 table is upcast on load
    emb = clip.embed_texts(["a red circle", "a blue square on a white background"])
    assert emb.shape == (2, 64) and torch.allclose(emb.norm(dim=-1), torch.ones(2))

    cfg = TextDDPMTrainConfig(steps=2, batch_size=4, text_encoder=str(tmp_path / "clip"))
    train_text_ddpm(tmp_path / "tddpm", cfg, progress=False)
    spec = ModelSpec(name=str(tmp_path / "tddpm"))
    assert model_resolution(spec) == 32
    m = load_diffusion(spec, device="cpu")
    assert m.conditional and m.vae is None and m.resolution == 32 and m.prediction_type == "v_prediction"
    cond, uncond = m.embed_prompts(["a red circle"] * 2), m.embed_prompts(["", ""])
    x = torch.randn(2, 3, 32, 32)
    e1, e3 = m.eps_fn(cond, uncond, 1.0)(x, 500), m.eps_fn(cond, uncond, 3.0)(x, 500)
    assert e1.shape == x.shape and torch.isfinite(e3).all() and not torch.allclose(e1, e3)


def test_learning_rate_schedules():
    cos = DDPMTrainConfig(steps=1000, lr=1e-3, warmup_steps=100)
    assert learning_rate(cos, 0) == 1e-3 / 100 and abs(learning_rate(cos, 99) - 1e-3) < 3e-5  # cosine has begun
    assert abs(learning_rate(cos, 999) - 1e-4) < 1e-6  # cosine decays to 10% at the last step
    const = DDPMTrainConfig(steps=1000, lr=1e-3, warmup_steps=50, lr_schedule="constant")
    assert learning_rate(const, 49) == learning_rate(const, 999) == 1e-3
    with pytest.raises(ValueError, match="lr_schedule"):  # rejected when the config is made, not at step 0
        DDPMTrainConfig(lr_schedule="linear")


def test_toy_train_set_overrides_are_typed_and_checked():
    over = dataclass_overrides(DDPMTrainConfig, ["lr_schedule=constant", "ema_decay=0.995", "warmup_steps=50",
                                                  "bf16=true"])
    assert over == {"lr_schedule": "constant", "ema_decay": 0.995, "warmup_steps": 50, "bf16": True}
    with pytest.raises(SystemExit, match="FIELD one of"):
        dataclass_overrides(DDPMTrainConfig, ["learning_rate=1"])
    with pytest.raises(SystemExit, match="warmup_steps"):
        dataclass_overrides(DDPMTrainConfig, ["warmup_steps=many"])
