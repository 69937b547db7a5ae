"""Guidance residual score, per-sample score targets, and the ROC AUC that judges each score against the oracle."""

import numpy as np
import pytest
import torch

from rayedit.config import ModelSpec, ScoreSpec, SpecError, parse_spec
from rayedit.diffusion.residual import guidance_residual
from rayedit.models.load import load_diffusion
from rayedit.rows import OK, get_scores, obj_array
from rayedit.stages.model_output import to_model_range
from rayedit.stages.score import ScoreImages
from rayedit.stages.score_names import score_names
from rayedit.toy.verdict import edit_succeeded
from research.edit_eval import images_of_colour
from research.filter_eval import best_threshold, combined_rules, evaluate_filters, roc_auc


def test_roc_auc():
    assert roc_auc(np.array([1, 2, 3, 4]), np.array([0, 0, 1, 1])) == 1.0
    assert roc_auc(np.array([1, 2, 3, 4]), np.array([1, 1, 0, 0])) == 0.0
    assert roc_auc(np.array([1, 1, 1, 1]), np.array([1, 0, 1, 0])) == 0.5  # ties count half
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75
    assert np.isnan(roc_auc(np.array([1.0, 2.0]), np.array([1, 1])))


def test_best_threshold_and_combined_rules():
    labels = np.array([1, 1, 1, 0, 0, 0], dtype=bool)
    high = np.array([0.9, 0.8, 0.4, 0.5, 0.45, 0.2])  # high marks success; 0.4 is a success below two failures
    r = best_threshold(high, labels)
    assert r["rule"] == "min" and r["value"] == 0.8  # J = 2/3 - 0 (cut at 0.4: 1 - 2/3)
    assert r["successes_kept"] == pytest.approx(2 / 3) and r["failures_removed"] == 1.0
    assert r["success_share_of_kept"] == 1.0
    low = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.25])  # low marks success (an LPIPS-like score)
    r2 = best_threshold(low, labels)
    assert r2["rule"] == "max" and r2["value"] == 0.3 and r2["failures_removed"] == pytest.approx(2 / 3)
    assert best_threshold(high, np.ones(6, bool)) == {}  # nothing to separate
    both = combined_rules({"a": high, "b": low}, labels, {"a": r, "b": r2})
    assert both["filters"] == [{"score": "a", "min": 0.8}, {"score": "b", "max": 0.3}]
    assert both["successes_kept"] == pytest.approx(2 / 3) and both["failures_removed"] == 1.0


def test_guidance_residual_is_batch_independent_and_target_sensitive():
    m = load_diffusion(ModelSpec(name="toy-text-ddpm"), device="cpu")
    imgs, caps = images_of_colour("red", 4)
    x = to_model_range(imgs)
    keys = [f"k{i}" for i in range(4)]
    together = guidance_residual(m, x, caps, keys, [300, 600], 7.5)
    apart = torch.cat([guidance_residual(m, x[i:i + 1], caps[i:i + 1], keys[i:i + 1], [300, 600], 7.5)
                       for i in range(4)])
    assert torch.allclose(together, apart, rtol=1e-4)
    wrong = guidance_residual(m, x, [c.replace("red", "green") for c in caps], keys, [300, 600], 7.5)
    assert (wrong > together).all()  # a red object captioned green is pushed harder than captioned red


def test_score_spec_rules():
    with pytest.raises(SpecError, match="guidance: the residual is measured against a target caption"):
        parse_spec({"input": {"url": "x/*.tar"}, "output": {"url": "o"}, "score": {"guidance": {}}})
    spec = ScoreSpec(clip=None, lpips=None, replace={"red": "blue"}, guidance={"timesteps": [300]})
    assert score_names(spec) == ["guidance_residual"]
    assert score_names(ScoreSpec(lpips=None, replace={"red": "blue"})) == ["clip_score", "clip_direction"]


@pytest.mark.slow
def test_filter_evaluation_on_a_known_editor():
    """The identity 'editor' never reaches blue; an oracle-exact recolouring always does: AUC of a score that sees
    the colour (guidance residual against 'blue') must separate them."""
    imgs, caps = images_of_colour("red", 8)

    def half_recolour(x0, captions):  # swap R and B on the first half: a perfect red -> blue edit there
        out = x0.clone()
        k = len(out) // 2
        out[:k] = x0[:k, [2, 1, 0]]
        return out

    spec = ScoreSpec(clip={"model": "toy-clip"}, lpips=None, replace={"red": "blue"},
                     guidance={"timesteps": [300, 500], "noise_samples": 1})
    result = evaluate_filters(half_recolour, ScoreImages(spec, device="cpu"), "red", "blue", n=8, batch=8)
    ok = [edit_succeeded(a, a[..., [2, 1, 0]], "blue") for a in imgs[:4]]
    assert result["success_share"] == pytest.approx(sum(ok) / 8)
    assert result["scores"]["guidance_residual"]["roc_auc"] < 0.25  # lower residual marks success
    assert result["scores"]["clip_score"]["roc_auc"] > 0.75
    b = {"key": obj_array(["a"]), "caption": obj_array([caps[0]]), "pixels": imgs[:1], "edited": imgs[:1],
         "status": obj_array([OK]), "reason": obj_array([""])}
    assert set(get_scores(ScoreImages(spec, device="cpu")(b), 0)) == {"clip_score", "clip_direction",
                                                                      "guidance_residual"}
