"""The v2 toy CLIP's training batches (each scene beside its exact one-object recolour) and its preset name."""

import numpy as np
import pytest

from rayedit.models.clip_source import TOY_CLIP_V2, folder_name, toy_clip_shipped
from rayedit.toy.clip_v2_batches import caption_for, is_true_of, recoloured, v2_batch_at
from rayedit.toy.scenes import scene_at


def test_batches_pair_each_scene_with_its_one_object_recolour():
    x, captions, match = v2_batch_at(23001, 0, 16, short_share=0.0)
    assert x.shape == (16, 3, 64, 64) and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert len(captions) == 16 and bool((match.diagonal() == 1).all())
    for k in range(0, 16, 2):
        assert captions[k] != captions[k + 1]  # the recolour's exact caption is not the scene's
        assert match[k, k + 1] == 0 and match[k + 1, k] == 0
        changed = (x[k] != x[k + 1]).any(0)
        assert 0 < int(changed.sum()) < 64 * 64 // 4  # one object's pixels, the background's texture kept
    again = v2_batch_at(23001, 0, 16, short_share=0.0)
    assert np.array_equal(x.numpy(), again[0].numpy()) and captions == again[1]


def test_an_object_caption_is_true_of_every_scene_holding_that_object():
    rng = np.random.default_rng(0)
    scene = scene_at(23001, 3)[0]
    other = recoloured(scene, rng)
    changed = [i for i, (a, b) in enumerate(zip(scene.objects, other.objects, strict=True)) if a != b]
    assert len(changed) == 1 and other.objects[changed[0]].colour not in [o.colour for o in scene.objects]
    caption, claim = caption_for(scene, np.random.default_rng(1), short_share=1.0)
    assert claim[0] == "object" and caption == f"a {claim[1]} {claim[2]}" and is_true_of(claim, scene)
    assert is_true_of(("full", scene.caption), scene) and not is_true_of(("full", scene.caption), other)


def test_the_preset_names_the_shipped_folder_or_says_how_to_build_it():
    from rayedit.models.errors import ModelLoadError

    if toy_clip_shipped(TOY_CLIP_V2):
        assert folder_name(TOY_CLIP_V2).endswith("toy/weights/toy-clip-v2")
    else:
        with pytest.raises(ModelLoadError, match="rayedit toy train clip-v2"):
            folder_name(TOY_CLIP_V2)
