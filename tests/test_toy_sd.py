"""toy-sd: the tokenizer derived from CLIP's BPE, and the Stable Diffusion folder layout (diffusers and rayedit load
it through their ordinary code paths)."""

import json

import numpy as np
import open_clip
import pytest
import torch

from rayedit.toy.scenes import scene_at
from rayedit.toy.sd.tokenizer import MAX_LENGTH, build_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


def test_toy_captions_split_exactly_as_clip_splits_them(tokenizer):
    clip = open_clip.SimpleTokenizer()
    for i in range(200):
        caption = scene_at(4242, i)[0].caption
        ours = tokenizer.convert_ids_to_tokens(tokenizer(caption).input_ids)
        assert ours[0] == "<|startoftext|>" and ours[-1] == "<|endoftext|>"
        assert ours[1:-1] == [clip.decoder[t] for t in clip.encode(caption)]
        assert len(ours) <= MAX_LENGTH
    assert len(tokenizer) < 600  # CLIP's has 49,408


def test_any_prompt_tokenizes(tokenizer):
    ids = tokenizer("a purple hexagon!", padding="max_length", max_length=MAX_LENGTH).input_ids
    assert len(ids) == MAX_LENGTH and ids[0] == tokenizer.bos_token_id


@pytest.fixture(scope="module")
def random_toy_sd(tmp_path_factory, tokenizer):
    """A toy-sd folder with the shipped architecture and seeded random weights, written by diffusers."""
    from rayedit.toy.sd.unet import Denoiser, build_text_encoder, build_unet, save_pipeline
    from rayedit.toy.sd.vae import build_vae

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("toy-sd")
    denoiser = Denoiser(build_unet(), build_text_encoder(len(tokenizer), tokenizer.bos_token_id,
                                                         tokenizer.eos_token_id))
    save_pipeline(out, build_vae(), denoiser, tokenizer, half=True)
    return out


def test_folder_is_stable_diffusions_layout(random_toy_sd):
    from diffusers import StableDiffusionPipeline

    index = json.loads((random_toy_sd / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    assert index["vae"] == ["diffusers", "AutoencoderKL"] and index["unet"] == ["diffusers", "UNet2DConditionModel"]
    assert index["text_encoder"] == ["transformers", "CLIPTextModel"]
    assert index["tokenizer"] == ["transformers", "CLIPTokenizer"]
    assert list((random_toy_sd / "unet").glob("*.safetensors"))
    pipe = StableDiffusionPipeline.from_pretrained(random_toy_sd, torch_dtype=torch.float32)
    images = pipe(["a red circle on a gray background"], num_inference_steps=2, height=64, width=64,
                  output_type="np").images
    assert images.shape == (1, 64, 64, 3) and np.isfinite(images).all()


def test_rayedit_loads_it_like_any_sd_folder(random_toy_sd):
    from rayedit.config import ModelSpec
    from rayedit.models.layout import model_resolution, model_takes_text
    from rayedit.models.load import load_diffusion
    from rayedit.models.text import HFClipTextEncoder

    spec = ModelSpec(name=str(random_toy_sd))
    assert model_resolution(spec) == 64 and model_takes_text(spec)
    model = load_diffusion(spec, device="cpu")
    assert isinstance(model.text_encoder, HFClipTextEncoder) and model.vae is not None
    assert model.resolution == 64 and model.prediction_type == "v_prediction"
    hidden = model.text_encoder(["a red circle and a blue square on a white background"])
    assert hidden.shape == (1, MAX_LENGTH, 128)


def test_the_vae_edge_map_marks_a_shapes_border_only():
    import torch

    from rayedit.toy.sd.vae import edge_map

    x = -torch.ones(1, 3, 16, 16)
    x[:, 0, 4:12, 4:12] = 1.0  # a red square on black
    e = edge_map(x)[0, 0]
    assert e[8, 8] == 0 and e[0, 0] == 0  # inside and far outside
    assert e[:, 8].tolist() == [0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0]  # both sides of it, dilated by one
    assert e[8, :].tolist() == e[:, 8].tolist()


def test_pack_swaps_in_a_decoder_fine_tune_only(random_toy_sd, tmp_path, monkeypatch):
    import json

    from diffusers import AutoencoderKL
    from safetensors import safe_open

    from rayedit.toy.sd.pack import pack_toy_sd

    tuned = AutoencoderKL.from_pretrained(random_toy_sd, subfolder="vae")
    with torch.no_grad():
        tuned.decoder.conv_out.bias += 0.5  # a decoder fine-tune: same latents, other pixels
    tuned.save_pretrained(tmp_path / "tuned" / "vae")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # as on the packing machine: the flag must not reach the folder
    info = pack_toy_sd(random_toy_sd, tmp_path / "tuned", tmp_path / "packed")
    tokenizer_config = json.loads((tmp_path / "packed" / "tokenizer" / "tokenizer_config.json").read_text())
    assert "local_files_only" not in tokenizer_config and tokenizer_config["tokenizer_class"] == "CLIPTokenizer"
    packed = AutoencoderKL.from_pretrained(tmp_path / "packed", subfolder="vae", torch_dtype=torch.float32)
    assert torch.allclose(packed.decoder.conv_out.bias, tuned.decoder.conv_out.bias, atol=1e-3)
    for part in ("unet", "vae", "text_encoder"):
        with safe_open(str(next((tmp_path / "packed" / part).glob("*.safetensors"))), "pt") as f:
            assert f.get_tensor(next(iter(f.keys()))).dtype == torch.float16
    assert 0 < info["megabytes"] < 15

    with torch.no_grad():
        tuned.encoder.conv_in.weight += 0.1  # now it encodes differently: the U-Net's latents would not match
    tuned.save_pretrained(tmp_path / "other" / "vae")
    with pytest.raises(ValueError, match="encodes differently"):
        pack_toy_sd(random_toy_sd, tmp_path / "other", tmp_path / "packed2")
