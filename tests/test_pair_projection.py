"""Projecting edit targets onto the model's own images (paired_project_t)."""

import numpy as np
import pytest
import torch

from rayedit.config import ModelSpec
from rayedit.editors.asyrp.pair_projection import project_onto_model
from rayedit.models.load import load_diffusion, toy_weights_shipped
from rayedit.stages.model_output import to_model_range, to_uint8


def test_projection_is_seeded_and_needs_a_grid_timestep_below_t():
    torch.manual_seed(0)
    tiny = load_diffusion(ModelSpec(name="tiny"), device="cpu")
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    a, b = project_onto_model(tiny, x, 600, steps=4, seed=1), project_onto_model(tiny, x, 600, steps=4, seed=1)
    assert a.shape == x.shape and torch.equal(a, b)
    assert not torch.equal(a, project_onto_model(tiny, x, 600, steps=4, seed=2))
    assert torch.allclose(project_onto_model(tiny, x, 600, steps=4, seed=1, batch_size=1), a, atol=1e-4)  # per image
    with pytest.raises(ValueError, match="no timestep of the 4-step grid is <= t=100"):
        project_onto_model(tiny, x, 100, steps=4, spacing="trailing")  # 249, 499, 749, 999


@pytest.mark.skipif(not toy_weights_shipped("toy-text-ddpm"), reason="no shipped toy-text-ddpm")
def test_the_toy_model_pulls_an_off_palette_shade_back_and_keeps_the_shape():
    """A target whose blue is 30/255 per channel off the palette (like the DDS translator's outputs) comes back
    near the palette's blue with its mask in place."""
    from rayedit.toy.asyrp_ceiling import paired_images
    from rayedit.toy.generator import COLOURS
    from rayedit.toy.oracle import mask_iou, read_image

    torch.set_num_threads(2)
    model = load_diffusion(ModelSpec(name="toy-text-ddpm"), device="cpu")
    src, targets = paired_images("red", "blue", 8)  # held-out red images and the same drawings in blue
    masks = [read_image(s).mask for s in src]
    off = targets.copy()
    for img, m in zip(off, masks, strict=True):
        img[m] = np.clip(img[m].astype(int) + 30, 0, 255)
    blue = np.asarray(COLOURS["blue"], float)

    def distance(imgs):
        return np.mean([np.linalg.norm(np.median(i[m].astype(float), 0) - blue) for i, m in zip(imgs, masks,
                                                                                                 strict=True)])

    projected = to_uint8(project_onto_model(model, to_model_range(off), 200))
    assert distance(off) > 45 and distance(projected) < distance(off) / 2, (distance(off), distance(projected))
    assert min(mask_iou(read_image(p).mask, m) for p, m in zip(projected, masks, strict=True)) >= 0.85
