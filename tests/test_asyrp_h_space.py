"""Where an Asyrp direction adds dh (``h_space``): the bottleneck (the paper's) or a decoder block's output."""

import pytest
import torch

from rayedit.config import AsyrpTrainSpec, ModelSpec, SpecError
from rayedit.editors.asyrp.artifact import load_direction, save_direction
from rayedit.editors.asyrp.delta import CombinedDelta, delta_for, h_space_shape
from rayedit.editors.asyrp.editor import AsyrpEditor
from rayedit.models.load import load_diffusion


@pytest.fixture(scope="module")
def latent():
    torch.manual_seed(0)
    return load_diffusion(ModelSpec(name="tiny-latent"), device="cpu")


def _h_at(model, where: str, x: torch.Tensor) -> torch.Tensor:
    """The output of U-Net layer ``where`` in one plain forward on the empty prompt."""
    seen = []
    handle = model.unet.get_submodule(where).register_forward_hook(lambda m, i, out: seen.append(out.detach()))
    try:
        model.eps_fn(model.empty_prompt_context(x.shape[0]))(x, 500)
    finally:
        handle.remove()
    return seen[0]


@pytest.mark.parametrize("preset, x_shape", [("tiny", (2, 3, 32, 32)), ("tiny-latent", (2, 4, 16, 16))])
def test_h_space_shape_is_the_shape_of_the_layer_the_editor_hooks(preset, x_shape):
    m = load_diffusion(ModelSpec(name=preset), device="cpu")
    x = torch.randn(*x_shape)
    blocks = len(m.unet.config.block_out_channels)
    for where in ["mid_block"] + [f"up_blocks.{k}" for k in range(blocks)]:
        h = _h_at(m, where, x)
        channels, halvings = h_space_shape(m.unet, where)
        assert h.shape[1:] == (channels, x_shape[2] >> halvings, x_shape[3] >> halvings), where
        temb = torch.randn(2, m.unet.time_embedding.linear_2.out_features)
        for arch in ("paper", "seeing"):
            f = delta_for(m.unet, arch=arch, h_space=where)
            assert f(h, temb, x).shape == h.shape and f.h_space == where


def test_an_unknown_h_space_is_refused_with_the_choices(latent):
    for where in ("up_blocks.9", "down_blocks.0", "mid"):
        with pytest.raises(ValueError, match="use mid_block or up_blocks.K"):
            delta_for(latent.unet, h_space=where)
    with pytest.raises(ValueError, match="h_space"):
        AsyrpTrainSpec(source="a", target="b", output="d", h_space="down_blocks.0")


def test_a_direction_at_a_decoder_block_edits_there_and_keeps_its_place_when_saved(latent, tmp_path):
    torch.manual_seed(1)
    f = delta_for(latent.unet, arch="seeing", h_space="up_blocks.1").eval()  # random init: a non-zero dh
    x0 = torch.randn(2, 4, 16, 16)
    seen = []
    handle = latent.unet.up_blocks[1].register_forward_hook(lambda m, i, out: seen.append(out.shape[0]))
    kw = {"steps": 4, "t_edit": 500, "t_boost": 0, "train_steps": 4, "boost": False}
    try:
        edited = AsyrpEditor(latent, [f], [1.0], **kw)(x0)
    finally:
        handle.remove()
    assert 4 in seen  # the [plain; edited] batch went through the hooked decoder block
    assert not torch.allclose(edited, AsyrpEditor(latent, [f], [0.0], **kw)(x0), atol=1e-4)
    save_direction(str(tmp_path / "d"), f, {"steps": 4})
    g, meta = load_direction(str(tmp_path / "d"))
    assert meta["h_space"] == "up_blocks.1" and g.h_space == "up_blocks.1"
    assert torch.allclose(AsyrpEditor(latent, [g], [1.0], **kw)(x0), edited, atol=1e-5)


def test_directions_at_different_h_spaces_are_not_combined(latent):
    with pytest.raises(ValueError, match="different h-spaces"):
        CombinedDelta([delta_for(latent.unet), delta_for(latent.unet, h_space="up_blocks.0")], [1.0, 1.0])
    assert CombinedDelta([delta_for(latent.unet)], [1.0]).h_space == "mid_block"


def test_training_refuses_a_decoder_block_the_model_lacks_before_reading_images(tmp_path):
    from rayedit.pipelines.train_asyrp import train_asyrp_local

    spec = AsyrpTrainSpec(source="a cat", target="a dog", model={"name": "tiny-latent"}, output=str(tmp_path / "d"),
                          images={"url": str(tmp_path / "missing-*.tar")}, h_space="up_blocks.7", t_edit=500,
                          t_boost=200)
    with pytest.raises(SpecError, match="up_blocks.7"):
        train_asyrp_local(spec, progress=False)
    assert not (tmp_path / "d").exists()
