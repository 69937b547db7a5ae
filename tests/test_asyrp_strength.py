"""Choosing a direction's strength on held-out before/after pairs (paired_validation)."""

import pytest
import torch

from rayedit.config import ModelSpec
from rayedit.editors.asyrp.delta import delta_for
from rayedit.editors.asyrp.editor import AsyrpEditor
from rayedit.editors.asyrp.strength import STRENGTHS, best_strength, strength_errors
from rayedit.models.load import load_diffusion


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return load_diffusion(ModelSpec(name="tiny"), device="cpu")


def test_the_strength_that_made_the_targets_is_found(tiny):
    """Targets edited by the direction itself at 0.8 (in another batch size): the error there is ~0, elsewhere not."""
    torch.manual_seed(0)
    f = delta_for(tiny.unet).eval()  # random init: a non-zero direction
    x0 = torch.rand(3, 3, 32, 32) * 2 - 1
    targets = AsyrpEditor(tiny, [f], [0.8], steps=6, t_edit=400, t_boost=0, train_steps=6, boost=False,
                          t_max=800)(x0)
    errors = strength_errors(tiny, f, x0, targets, steps=6, t_edit=400, t_max=800, batch_size=2)
    assert list(errors) == list(STRENGTHS) and errors[0.8] < 1e-6
    assert min(e for c, e in errors.items() if c != 0.8) > 1e-3 and best_strength(errors) == 0.8
    with pytest.raises(ValueError, match="must match targets"):
        strength_errors(tiny, f, x0, targets[:2], steps=6, t_edit=400, t_max=800)


def test_ties_go_to_the_weaker_strength():
    assert best_strength({1.0: 0.1, 0.7: 0.1, 0.5: 0.2}) == 0.7
