"""Model loading: presets, local save_pretrained folders (same code path as hub ids), offline hub ids."""

import time

import pytest
import torch
from diffusers import DDPMPipeline, DDPMScheduler

from rayedit.config import ModelSpec
from rayedit.models.clip import load_clip
from rayedit.models.errors import ModelLoadError
from rayedit.models.load import load_diffusion, model_resolution, pick_dtype
from rayedit.models.presets import tiny_pixel
from rayedit.models.weights import load_state_dict


def _eps(model, x, t=500):
    return model.eps_fn()(x, t)


@pytest.mark.parametrize("layout", ["pipeline", "single"])
def test_local_folder_loads_like_the_original(tmp_path, layout):
    src = tiny_pixel(seed=3)
    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction")
    if layout == "pipeline":  # DDPMPipeline.save_pretrained: unet/ + scheduler/ + model_index.json
        DDPMPipeline(unet=src.unet, scheduler=sched).save_pretrained(tmp_path)
    else:  # google/ddpm-*-256 style: the U-Net and scheduler configs at the root
        src.unet.save_pretrained(tmp_path)
        sched.save_config(tmp_path)
    spec = ModelSpec(name=str(tmp_path))
    assert model_resolution(spec) == 32
    m = load_diffusion(spec, device="cpu")
    assert m.prediction_type == "v_prediction" and not m.conditional and m.vae is None
    torch.testing.assert_close(m.alphas_cumprod, sched.alphas_cumprod.double())
    x = torch.randn(2, 3, 32, 32)
    out = m.unet(x, torch.full((2,), 500)).sample
    torch.testing.assert_close(out, src.unet(x, torch.full((2,), 500)).sample)


def test_hub_id_offline_fails_fast_with_advice():
    start = time.time()
    with pytest.raises(ModelLoadError, match="give the local path"):
        load_diffusion(ModelSpec(name="google/ddpm-ema-celebahq-256"), device="cpu")
    assert time.time() - start < 10


def test_not_a_model():
    with pytest.raises(ModelLoadError, match="neither a preset"):
        load_diffusion(ModelSpec(name="banana"), device="cpu")


def test_dtype_choice():
    assert pick_dtype("auto", "cpu") == torch.float32
    assert pick_dtype("float16", "cpu") == torch.float16


def test_weights_load_safely(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.ones(2)}, tmp_path / "a.safetensors")
    assert load_state_dict(tmp_path / "a.safetensors")["w"].sum() == 2

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"w": torch.ones(1), "evil": Evil()}, tmp_path / "b.pt")
    with pytest.raises(Exception, match="[Ww]eights only load failed|Unsupported"):
        load_state_dict(tmp_path / "b.pt")


def test_clip_local_checkpoint_and_offline_tag(tmp_path):
    from safetensors.torch import save_file

    a = load_clip("tiny", seed=1)
    save_file({k: v.contiguous() for k, v in a.model.state_dict().items()}, tmp_path / "clip.safetensors")
    b = load_clip("tiny", pretrained=str(tmp_path / "clip.safetensors"), seed=2)
    torch.testing.assert_close(a.embed_texts(["a red circle"]), b.embed_texts(["a red circle"]))
    assert not b.random_weights
    with pytest.raises(ModelLoadError, match="local path"):
        load_clip("ViT-B-32", pretrained="openai")


@pytest.mark.gpu
def test_tiny_models_run_on_gpu_in_half_precision():
    m = load_diffusion(ModelSpec(name="tiny-latent", dtype="float16"), device="cuda")
    assert m.unet.dtype == torch.float16 and m.device.type == "cuda"
    x0 = m.encode(torch.rand(2, 3, 32, 32, device="cuda") * 2 - 1)
    eps = m.eps_fn(m.embed_prompts(["a", "b"]), m.embed_prompts(["", ""]), 3.0)(x0, 500)
    assert eps.dtype == torch.float32 and torch.isfinite(eps).all()
