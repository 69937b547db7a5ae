"""Projecting edit targets onto the model's own images (paired_project_t)."""

import numpy as np
import pytest
import torch

from rayedit.config import ModelSpec
from rayedit.diffusion.ddim import ddim_invert, ddim_sample, grid_for
from rayedit.editors.asyrp.pair_projection import project_onto_model
from rayedit.models.layout import toy_weights_shipped
from rayedit.models.load import load_diffusion
from rayedit.stages.model_output import to_model_range, to_uint8


def test_an_unchanged_target_projects_to_its_source_and_batches_do_not_matter():
    """The noise is the source's own DDIM inversion (an unchanged target goes there and back); deterministic."""
    torch.manual_seed(0)
    tiny = load_diffusion(ModelSpec(name="tiny"), device="cpu")
    src = torch.rand(3, 3, 32, 32) * 2 - 1
    tgt = src.clone()
    tgt[:, 2, 8:16, 8:16] = 1.0  # an edit: a blue patch
    a = project_onto_model(tiny, tgt, src, 600, steps=8)
    assert a.shape == src.shape and torch.equal(a, project_onto_model(tiny, tgt, src, 600, steps=8))
    assert torch.allclose(project_onto_model(tiny, tgt, src, 600, steps=8, batch_size=1), a, atol=1e-4)
    grid = [t for t in grid_for(8, tiny.alphas_cumprod) if t <= 600]
    eps = tiny.eps_fn(tiny.empty_prompt_context(3))
    with torch.no_grad():  # an unchanged target: exactly the source's inversion to t and back
        rebuilt = ddim_sample(eps, ddim_invert(eps, src, grid, tiny.alphas_cumprod), grid, tiny.alphas_cumprod)
    assert torch.allclose(project_onto_model(tiny, src, src, 600, steps=8), rebuilt, atol=1e-5)
    with pytest.raises(ValueError, match="must match targets"):
        project_onto_model(tiny, tgt, src[:2], 600, steps=8)
    with pytest.raises(ValueError, match="no timestep of the 4-step grid is <= t=100"):
        project_onto_model(tiny, tgt, src, 100, steps=4, spacing="trailing")  # 249, 499, 749, 999


@pytest.mark.skipif(not toy_weights_shipped("toy-text-ddpm"), reason="no shipped toy-text-ddpm")
def test_the_toy_model_pulls_an_off_palette_shade_back_and_keeps_the_shape():
    """A target whose blue is 30/255 per channel off the palette (like the DDS translator's outputs) comes back
    near the palette's blue with its mask in place; an unchanged target comes back as its source."""
    from rayedit.toy.generator import COLOURS
    from rayedit.toy.oracle import mask_iou, read_image
    from research.asyrp_ceiling import paired_images

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

    projected = to_uint8(project_onto_model(model, to_model_range(off), to_model_range(src), 200))
    assert distance(off) > 45 and distance(projected) < distance(off) / 2, (distance(off), distance(projected))
    assert min(mask_iou(read_image(p).mask, m) for p, m in zip(projected, masks, strict=True)) >= 0.85
    unchanged = to_uint8(project_onto_model(model, to_model_range(src), to_model_range(src), 200))
    assert np.abs(unchanged.astype(float) - src).mean() < 3  # measured 1.4 / 255 on 100 images at t = 200 (1.5 at 300)
