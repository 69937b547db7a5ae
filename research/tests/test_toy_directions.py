"""The shipped Asyrp directions edit held-out toy images as recorded (a quick version of the README's numbers)."""

import pytest
import torch

from rayedit.config import AsyrpSpec, DirectionUse, ModelSpec
from rayedit.editors.asyrp.editor import asyrp_from_spec
from rayedit.models.layout import toy_weights_shipped
from rayedit.models.load import load_diffusion
from rayedit.pipelines.demo import TOY_WEIGHTS
from research import WEIGHTS
from research.edit_eval import evaluate_edit

COLOUR, SHAPE = WEIGHTS / "toy-red-to-blue", WEIGHTS / "toy-square-to-circle"
BOTH_WAYS, PAIRED = WEIGHTS / "toy-red-blue-both-ways", TOY_WEIGHTS / "toy-red-to-blue-paired"
FROM_CAPTIONS = WEIGHTS / "toy-red-to-blue-from-captions"
pytestmark = pytest.mark.skipif(
    not (toy_weights_shipped("toy-text-ddpm") and all((d / "direction.json").is_file() for d in (
        COLOUR, SHAPE, BOTH_WAYS, PAIRED, FROM_CAPTIONS))),
    reason="no shipped toy directions in this checkout")


def _both_targets(model, strengths: list[float], n: int) -> dict:
    spec = AsyrpSpec(directions=[DirectionUse(url=str(d), strength=c) for d, c in zip((COLOUR, SHAPE), strengths,
                                                                                      strict=True)], boost=False)
    return evaluate_edit(asyrp_from_spec(model, spec, steps=40), "red", "blue", n=n, batch=n,
                         source_shape="square", target_shape="circle")


def test_colour_and_shape_directions_combine():
    # Measured (`python -m research eval-edit --direction toy-red-to-blue toy-square-to-circle --strengths 1.5,1 1.5,0
    # --source red --target blue --source-shape square --target-shape circle --n 200 --no-boost`): red squares ->
    # blue circles 89.5% with both directions; the colour direction alone reaches blue on 99.5% but circles on only
    # 51.5% (it rounds some squares by itself). This 16-image version measured circles 94% vs 62.5%, blue 94% both.
    torch.set_num_threads(2)
    model = load_diffusion(ModelSpec(name="toy-text-ddpm"), device="cpu")
    both, colour_only = _both_targets(model, [1.5, 1.0], 16), _both_targets(model, [1.5, 0.0], 16)
    assert both["both_targets_reached"] >= 0.75, both
    assert both["target_shape_reached"] >= colour_only["target_shape_reached"] + 0.2, (both, colour_only)
    assert colour_only["target_colour_reached"] >= 0.85, colour_only


def _blue_to_red(model, direction, strength: float, n: int) -> dict:
    spec = AsyrpSpec(directions=[DirectionUse(url=str(direction), strength=strength)], boost=False)
    return evaluate_edit(asyrp_from_spec(model, spec, steps=40), "blue", "red", n=n, batch=n)


def test_negative_strength_goes_back_only_when_trained_both_ways():
    # Measured on 200 held-out blue images (`python -m research eval-edit --direction DIR --strengths -1 --source blue
    # --target red --n 200 --no-boost`): toy-red-blue-both-ways turns 91% red (hue +123 deg); the one-way
    # toy-red-to-blue 10% of 100 (+12 deg). This 16-image version measured 94% (+130 deg) vs 6% (+9 deg).
    torch.set_num_threads(2)
    model = load_diffusion(ModelSpec(name="toy-text-ddpm"), device="cpu")
    both, one_way = _blue_to_red(model, BOTH_WAYS, -1.0, 16), _blue_to_red(model, COLOUR, -1.0, 16)
    assert both["target_colour_reached"] >= 0.7, both
    assert both["hue_shift_mean"] > 60, both  # blue -> red is +130 deg along the short arc
    assert one_way["target_colour_reached"] <= 0.4, one_way


def test_paired_seeing_directions_preserve_where_the_caption_trained_one_does_not():
    # Measured on 200 held-out red images (`python -m research eval-edit --direction DIR --n 200 --no-boost`):
    # toy-red-to-blue-paired blue 100%, preserved 90.5%; toy-red-to-blue-from-captions (translator pairs, at its
    # validated strength 0.8, the default) 100% / 90%; toy-red-to-blue 97.5% / 41%. This 16-image version
    # measured blue 100% / preserved 87.5% and 100% / 93.75% vs 100% / 19%.
    torch.set_num_threads(2)
    model = load_diffusion(ModelSpec(name="toy-text-ddpm"), device="cpu")

    def judged(direction):
        spec = AsyrpSpec(directions=[DirectionUse(url=str(direction))], boost=False)
        return evaluate_edit(asyrp_from_spec(model, spec, steps=40), "red", "blue", n=16, batch=16)

    from_captions = asyrp_from_spec(model, AsyrpSpec(directions=[DirectionUse(url=str(FROM_CAPTIONS))]), steps=40)
    assert from_captions.strengths == [0.8]  # no strength given: the one validated on its 50 held-out pairs
    caption = judged(COLOUR)
    for paired in (judged(PAIRED), judged(FROM_CAPTIONS)):
        assert paired["target_colour_reached"] >= 0.9, paired
        assert paired["preserved_share_of_successes"] >= 0.75, paired
        assert paired["preserved_share_of_successes"] >= caption["preserved_share_of_successes"] + 0.25, (paired,
                                                                                                          caption)
