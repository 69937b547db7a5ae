"""The shipped toy DDPM: loads as a preset and reconstructs held-out images (thresholds a bit below measured)."""

import pytest
import torch

from rayedit.config import ModelSpec
from rayedit.models.load import load_diffusion, toy_weights_shipped
from rayedit.toy.evaluate import inversion_quality

pytestmark = pytest.mark.skipif(not toy_weights_shipped("toy-ddpm"), reason="no toy-ddpm weights in this checkout")

# Measured with `rayedit toy eval --n 64 --steps 20 40` on the shipped weights (3200 steps): DDIM-40 (leading grid)
# median PSNR 29.7 dB, oracle attributes kept 0.89. The floors sit a bit below, for the 16-image sample here.
PSNR_FLOOR = 26.0  # median PSNR (dB) of DDIM-40 inversion + reconstruction on held-out images
KEPT_FLOOR = 0.75  # share of reconstructions whose oracle colour, shape and background match the source


def test_toy_ddpm_loads_as_a_preset():
    m = load_diffusion(ModelSpec(name="toy-ddpm"), device="cpu")
    assert m.model_id == "toy-ddpm" and m.resolution == 32 and m.prediction_type == "v_prediction"
    assert not m.random_weights


def test_toy_ddpm_inversion_round_trip():
    torch.set_num_threads(2)
    m = load_diffusion(ModelSpec(name="toy-ddpm"), device="cpu")
    q = inversion_quality(m, n=16, steps=40, batch=16)
    assert q["psnr_median"] >= PSNR_FLOOR, q
    assert q["oracle_attributes_kept"] >= KEPT_FLOOR, q
