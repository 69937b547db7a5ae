"""The Asyrp ceiling diagnostic: exact toy targets, an oracle P_t that edits in place, and a fitted per-image dh."""

import numpy as np
import pytest
import torch

from rayedit.config import ModelSpec
from rayedit.models.layout import toy_weights_shipped
from rayedit.models.load import load_diffusion
from rayedit.stages.model_output import to_model_range
from rayedit.toy.generator import COLOURS, recoloured_at, sample_at
from rayedit.toy.oracle import read_image
from research.asyrp_ceiling import asyrp_ceiling, ceiling_edit, judge, paired_images

shipped = pytest.mark.skipif(not toy_weights_shipped("toy-text-ddpm"), reason="no shipped toy-text-ddpm")


def test_recoloured_image_is_the_same_drawing_in_another_colour():
    s, img = sample_at(3, 11)
    other = next(c for c in COLOURS if c != s.colour)
    out = recoloured_at(3, 11, other)
    assert (recoloured_at(3, 11, s.colour) == img).all()  # same texture, same place
    a, b = read_image(img), read_image(out)
    assert b.colour == other and b.shape == a.shape and (a.mask == b.mask).all()
    assert (img[~a.mask] == out[~a.mask]).all()  # only the object changed
    with pytest.raises(ValueError, match="unknown colour"):
        recoloured_at(3, 11, "purple")


def test_paired_images_are_source_coloured_and_recoloured():
    src, tgt = paired_images("red", "blue", 3)
    assert src.shape == tgt.shape == (3, 32, 32, 3)
    assert [read_image(i).colour for i in src] == ["red"] * 3 and [read_image(i).colour for i in tgt] == ["blue"] * 3


@shipped
def test_oracle_p_edits_in_place_and_plain_keeps_the_colour():
    model = load_diffusion(ModelSpec(name="toy-text-ddpm"), device="cpu")
    got = asyrp_ceiling(model, "red", "blue", n=6, fit_n=0, steps=20, batch=6)
    assert set(got) == {"plain", "ideal_p"}
    assert got["plain"]["target_colour_reached"] == 0.0 and got["plain"]["mask_iou_mean"] > 0.95
    assert got["ideal_p"]["target_colour_reached"] == 1.0 and got["ideal_p"]["preserved_share_of_successes"] == 1.0


@shipped
def test_a_fitted_dh_moves_the_edit_towards_the_oracle():
    model = load_diffusion(ModelSpec(name="toy-text-ddpm"), device="cpu")
    src, tgt = paired_images("red", "blue", 2)
    x0, y = to_model_range(src), to_model_range(tgt)
    unfitted, _ = ceiling_edit(model, x0, y, steps=20, fit_iters=1, lr=0.0)  # dh stays 0: no edit
    fitted, ratios = ceiling_edit(model, x0, y, steps=20, fit_iters=10, lr=0.1)
    assert judge(src, unfitted, "blue")["target_colour_reached"] == 0.0
    assert judge(src, fitted, "blue")["target_colour_reached"] == 1.0
    assert float((fitted - y).abs().mean()) < 0.5 * float((unfitted - y).abs().mean())
    assert ratios and all(0 < r < 2 and 0 < closed <= 1 for r, closed in ratios.values()) and min(ratios) >= 500
    assert torch.isfinite(fitted).all() and not np.isnan(list(ratios.values())).any()


@pytest.mark.skipif(not toy_weights_shipped("toy-sd"), reason="no shipped toy-sd")
def test_on_toy_sd_a_decoder_block_can_make_the_one_object_edit_and_the_bottleneck_cannot():
    """The v2 ceiling on 2 held-out scenes: the oracle P_t edits in place (the process can), a free dh at
    ``up_blocks.1`` closes most of the P_t gap, one at the middle block (Asyrp's h-space) hardly any."""
    from research.asyrp_ceiling import asyrp_ceiling_v2

    model = load_diffusion(ModelSpec(name="toy-sd"), device="cpu")
    kw = {"n": 2, "fit_n": 2, "steps": 20, "t_edit": 500, "t_max": 600, "fit_iters": 20, "lr": 0.05}
    up = asyrp_ceiling_v2(model, "red->blue", where="up_blocks.1", **kw)
    assert up["vae_perfect"]["success_iou_0.9"] == 1.0
    assert up["plain"]["target_reached"] == 0.0 and up["ideal_p"]["success_iou_0.9"] == 1.0
    assert min(up["fitted_dh"]["gap_closed"].values()) > 0.6  # 0.75 and 0.95 when written
    mid = asyrp_ceiling_v2(model, "red->blue", where="mid_block", **kw | {"n": 1, "fit_n": 1})
    assert max(mid["fitted_dh"]["gap_closed"].values()) < 0.3 and mid["fitted_dh"]["target_reached"] == 0.0
