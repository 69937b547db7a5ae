"""SDS / DDS gradients on the tiny latent model: DDS is the difference of two SDS, in one U-Net call."""

import torch

from rayedit.config import ModelSpec
from rayedit.diffusion.guidance import dds_gradient, guided, sds_gradient
from rayedit.models.load import load_diffusion


def test_guidance_convention():
    c, u = torch.randn(2, 4), torch.randn(2, 4)
    assert torch.equal(guided(c, u, 0.0), c)
    assert torch.allclose(guided(c, u, 6.5), u + 7.5 * (c - u), atol=1e-6)  # w = s - 1 (diffusers' scale s)


def test_dds_is_the_difference_of_two_sds_and_one_unet_call():
    m = load_diffusion(ModelSpec(name="tiny-latent"), device="cpu")
    z, z_src, noise = torch.randn(2, 4, 16, 16), torch.randn(2, 4, 16, 16), torch.randn(2, 4, 16, 16)
    t = torch.tensor([300, 700])
    tgt, src, unc = m.embed_prompts(["a lion"] * 2), m.embed_prompts(["a cat"] * 2), m.embed_prompts([""] * 2)
    calls = []
    handle = m.unet.register_forward_pre_hook(lambda mod, args: calls.append(args[0].shape[0]))
    try:
        dds = dds_gradient(m, z, z_src, t, noise, tgt, src, unc, w=6.5)
    finally:
        handle.remove()
    assert calls == [8]  # target/source x cond/uncond for 2 images, one call
    sds_t = sds_gradient(m, z, t, noise, tgt, unc, 6.5)
    sds_s = sds_gradient(m, z_src, t, noise, src, unc, 6.5)
    assert torch.allclose(dds, sds_t - sds_s, atol=1e-4)
    same = dds_gradient(m, z_src, z_src, t, noise, src, src, unc, w=6.5)
    assert same.abs().max() < 1e-5  # nothing to change: the matched-prompt bias cancels exactly
