"""Keep only the edit of a before/after pair: where the target barely differs from its source, use the source.

An editor's outputs (e.g. a DDS translator's) change more than the edit: a faint global tint, re-rendered noise,
halos. Regressing f_t on those differences teaches it them too. With a change threshold, the pixels that change by
less stay exactly the source, so only the edited region is learned.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def changed_mask(source: np.ndarray, target: np.ndarray, threshold: float, grow: int = 1) -> np.ndarray:
    """(N, H, W) bool: pixels whose largest channel change |target - source| exceeds ``threshold`` (a share of the
    0..255 range), grown by ``grow`` pixels so the edges of the edited region stay in."""
    if source.shape != target.shape:
        raise ValueError(f"source {source.shape} and target {target.shape} differ in shape")
    change = np.abs(target.astype(np.int16) - source.astype(np.int16)).max(-1) > threshold * 255
    if grow <= 0:
        return change
    structure = np.zeros((1, 3, 3), bool)
    structure[0] = ndimage.generate_binary_structure(2, 1)
    return ndimage.binary_dilation(change, structure=structure, iterations=grow)


def keep_changed(source: np.ndarray, target: np.ndarray, threshold: float, grow: int = 1) -> tuple[np.ndarray, float]:
    """uint8 targets equal to ``source`` outside :func:`changed_mask`, and the share of pixels kept as edited."""
    mask = changed_mask(source, target, threshold, grow)
    return np.where(mask[..., None], target, source), float(mask.mean())
