"""Model loading: presets, local save_pretrained folders (same code path as hub ids), offline hub ids."""

import time

import pytest
import torch
from diffusers import DDPMPipeline, DDPMScheduler

from rayedit.config import ModelSpec
from rayedit.models.clip import load_clip
from rayedit.models.errors import ModelLoadError
from rayedit.models.layout import model_resolution
from rayedit.models.load import load_diffusion, pick_dtype
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


def _tiny_sd_folder(path):
    """A Stable Diffusion layout folder (unet/vae/text_encoder/tokenizer/scheduler) with tiny random parts."""
    import json

    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in "abcdefghijklmnopqrstuvwxyz":
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    (path / "vocab.json").write_text(json.dumps(vocab))
    (path / "merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(str(path / "vocab.json"), str(path / "merges.txt"), model_max_length=16)
    torch.manual_seed(0)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                                        num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=16))
    vae = AutoencoderKL(block_out_channels=(16, 32), down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=8,
                        sample_size=32)
    unet = UNet2DConditionModel(sample_size=16, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(32, 64), cross_attention_dim=32, norm_num_groups=8,
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), attention_head_dim=8)
    sched = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tok, unet=unet, scheduler=sched,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(path / "sd")
    return path / "sd", text, tok


def test_stable_diffusion_layout_folder_loads(tmp_path):
    pytest.importorskip("transformers")
    folder, text, tok = _tiny_sd_folder(tmp_path)
    spec = ModelSpec(name=str(folder))
    assert model_resolution(spec) == 32  # 16 latent px x VAE factor 2
    m = load_diffusion(spec, device="cpu")
    assert m.conditional and m.vae is not None and m.resolution == 32
    assert m.vae_scale == pytest.approx(0.18215)
    ids = tok(["a red cat"], padding="max_length", max_length=16, return_tensors="pt").input_ids
    torch.testing.assert_close(m.embed_prompts(["a red cat"]), text(ids)[0])
    x0 = m.encode(torch.rand(2, 3, 32, 32) * 2 - 1)
    assert x0.shape == (2, 4, 16, 16)
    eps = m.eps_fn(m.embed_prompts(["a cat", "a dog"]), m.embed_prompts(["", ""]), 7.5)(x0, 500)
    assert eps.shape == x0.shape and torch.isfinite(eps).all()
    assert m.decode(x0).shape == (2, 3, 32, 32)


def test_plan_notes_random_clip_only(tmp_path):
    from rayedit.config import parse_spec
    from rayedit.pipelines.edit import plan_job
    from rayedit.toy.generator import write_shards

    write_shards(f"{tmp_path}/in/toy", 2, per_shard=2)
    base = {"input": {"url": f"{tmp_path}/in/toy-*.tar"}, "output": {"url": str(tmp_path / "out")},
            "score": {"lpips": {"random_backbone": True}}}
    notes = plan_job(parse_spec(base | {"score": base["score"] | {"clip": {"model": "tiny"}}})).notes
    assert any("CLIP 'tiny' has random weights" in n for n in notes)
    notes = plan_job(parse_spec(base | {"score": base["score"] | {"clip": {"model": "toy-clip"}}})).notes
    assert not any("CLIP" in n for n in notes)


def test_clip_checkpoint_in_openai_layout_loads(tmp_path):
    # open_clip's own files keep the text tower at the top level (positional_embedding, transformer.*); rayedit
    # builds a custom-text model (text.positional_embedding, ...) - the checkpoint must still load
    import open_clip
    from safetensors.torch import save_file

    from rayedit.models.clip import register_configs
    from rayedit.models.clip_source import TINY_CLIP

    register_configs()
    torch.manual_seed(3)
    standard = open_clip.create_model(TINY_CLIP, force_custom_text=False).eval()
    assert "positional_embedding" in standard.state_dict()
    save_file({k: v.contiguous() for k, v in standard.state_dict().items()}, tmp_path / "openai-layout.safetensors")
    loaded = load_clip("tiny", pretrained=str(tmp_path / "openai-layout.safetensors"), seed=9)
    tokens = open_clip.get_tokenizer(TINY_CLIP)(["a red circle"])
    with torch.no_grad():
        want = torch.nn.functional.normalize(standard.encode_text(tokens), dim=-1)
    torch.testing.assert_close(loaded.embed_texts(["a red circle"]), want)


def test_pickled_clip_checkpoint_is_one_clear_error(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"w": Evil()}, tmp_path / "clip.bin")
    with pytest.raises(ModelLoadError, match="weights_only=True .* refused") as err:
        load_clip("tiny", pretrained=str(tmp_path / "clip.bin"))
    assert "\n" not in str(err.value)


def test_a_broken_clip_folder_is_a_spec_error_before_any_work(tmp_path):
    # open_clip folders (toy-clip, local-dir:) are checked from their config and weight headers on the driver
    import shutil

    from rayedit.config import ClipSpec, SpecError
    from rayedit.models.checks import check_clip
    from rayedit.models.clip_source import TOY_CLIP_DIR, toy_clip_shipped

    if not toy_clip_shipped():
        pytest.skip("no toy-clip weights in this checkout")
    check_clip(ClipSpec(model="toy-clip"))
    folder = tmp_path / "clip"
    shutil.copytree(TOY_CLIP_DIR, folder)
    check_clip(ClipSpec(model=f"local-dir:{folder}"))
    (folder / "open_clip_model.safetensors").write_bytes(b"truncated")
    with pytest.raises(SpecError, match=r"score.clip: .*open_clip_model.safetensors: unreadable weights"):
        check_clip(ClipSpec(model=str(folder)))
    (folder / "open_clip_config.json").write_text('{"preprocess_cfg": {}}')
    with pytest.raises(SpecError, match="has no model_cfg"):
        check_clip(ClipSpec(model=f"local-dir:{folder}"))
