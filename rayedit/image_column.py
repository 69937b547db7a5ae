"""Image columns (``pixels``, ``edited``) whose rows may differ in size: with ``input.resize: keep_aspect`` a batch
holds a few sizes (aspect-ratio buckets). A column is a stacked (N, H, W, 3) uint8 array when every row has one size,
else an object array of (H, W, 3) arrays; stages run their models once per size group."""

from __future__ import annotations

import numpy as np


def image_column(images: list[np.ndarray]) -> np.ndarray:
    """A column from per-row arrays: stacked when they share a shape, else an object array."""
    if images and all(im.shape == images[0].shape for im in images):
        return np.stack(images)
    col = np.empty(len(images), dtype=object)
    col[:] = images
    return col


def size_groups(column: np.ndarray, idx: np.ndarray) -> list[np.ndarray]:
    """``idx`` split into groups of rows of one image size (first-seen order); one group for a stacked column."""
    if column.dtype != object:
        return [np.asarray(idx)] if len(idx) else []
    groups: dict[tuple, list[int]] = {}
    for i in idx:
        groups.setdefault(column[i].shape, []).append(int(i))
    return [np.asarray(g) for g in groups.values()]


def stacked(column: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The rows ``idx`` (all one size) as one (k, H, W, 3) array."""
    return column[idx] if column.dtype != object else np.stack([column[i] for i in idx])


def zeros_like_column(column: np.ndarray) -> np.ndarray:
    """A column of zero images of the same sizes."""
    if column.dtype != object:
        return np.zeros_like(column)
    return image_column([np.zeros_like(im) for im in column])
