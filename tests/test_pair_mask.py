"""Masking a before/after pair to its edited region (paired_change_threshold)."""

import numpy as np
import pytest

from rayedit.editors.asyrp.pair_mask import changed_mask, keep_changed


def _pair():
    source = np.full((2, 16, 16, 3), 100, np.uint8)
    target = source + 10  # a faint global tint: not the edit
    target[0, 4:8, 4:8] = (20, 40, 230)  # the edit
    return source, target


def test_only_the_edited_region_grown_by_one_pixel_is_kept():
    source, target = _pair()
    kept, share = keep_changed(source, target, threshold=0.2)
    edited = np.zeros((2, 16, 16), bool)
    edited[0, 4:8, 4:8] = True
    grown = edited.copy()
    grown[0, 3, 4:8] = grown[0, 8, 4:8] = grown[0, 4:8, 3] = grown[0, 4:8, 8] = True  # 4-neighbours, no corners
    assert (changed_mask(source, target, 0.2) == grown).all()
    assert (kept[grown] == target[grown]).all() and (kept[~grown] == source[~grown]).all()
    assert share == pytest.approx(grown.sum() / grown.size)
    assert (changed_mask(source, target, 0.2, grow=0) == edited).all()


def test_a_threshold_below_the_tint_keeps_everything_and_shapes_must_match():
    source, target = _pair()
    kept, share = keep_changed(source, target, threshold=0.01)  # 10/255 > 0.01
    assert share == 1.0 and (kept == target).all()
    with pytest.raises(ValueError, match="differ in shape"):
        changed_mask(source, target[:1], 0.2)
