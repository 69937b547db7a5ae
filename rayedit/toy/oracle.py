"""The toy world's judge: reads colour, shape, centre, size, mask and background back from pixels.

Purely analytic (no learned parts), so it can say whether an edit really happened: the object's colour
changed while its shape, position and mask stayed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from rayedit.toy.generator import BACKGROUNDS, COLOURS

FILL_RANGES = {"triangle": (0.42, 0.645), "circle": (0.645, 0.9), "square": (0.9, 1.01)}
"""Mask area / bounding-box area names the shape: ideal 0.5 / pi/4 / 1.0; pixelised small triangles reach 0.6
and small circles 0.66, so the cuts sit between the measured ranges."""
MIN_AREA = 12
"""Fewer object pixels than this is 'no object' (the smallest generated shape has ~80)."""
MAX_COLOUR_DIST = 90.0
"""RGB distance beyond which an object colour matches no palette colour (palette colours are >= 150 apart)."""


@dataclass
class Reading:
    """What the oracle sees in one image. ``valid``: exactly one clear shape of a palette colour."""

    colour: str | None
    shape: str | None
    background: str | None
    cx: float
    cy: float
    size: float
    mask: np.ndarray
    valid: bool
    reason: str = ""


def nearest_colour(rgb: np.ndarray, palette: dict[str, tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """For one RGB (3,) or many (N, 3): the index into ``list(palette)`` of the nearest palette colour, and its
    Euclidean distance."""
    d = np.linalg.norm(np.asarray(list(palette.values()), dtype=np.float64) - rgb[..., None, :], axis=-1)
    return d.argmin(-1), d.min(-1)


def _nearest(rgb: np.ndarray, palette: dict[str, tuple[int, int, int]]) -> tuple[str, float]:
    index, dist = nearest_colour(rgb, palette)
    return list(palette)[int(index)], float(dist)


def read_image(img: np.ndarray, threshold: float = 60.0) -> Reading:
    """Judge one uint8 (H, W, 3) image."""
    px = img.astype(np.float64)
    border = np.concatenate([px[0], px[-1], px[:, 0], px[:, -1]])
    bg_rgb = np.median(border, axis=0)
    background, bg_dist = _nearest(bg_rgb, BACKGROUNDS)
    fg = np.linalg.norm(px - bg_rgb, axis=-1) > threshold
    labels, n = ndimage.label(fg)
    empty = Reading(None, None, background, float("nan"), float("nan"), 0.0, np.zeros(fg.shape, bool), False)
    if n == 0:
        empty.reason = "no object"
        return empty
    sizes = ndimage.sum(fg, labels, index=range(1, n + 1))
    main = int(np.argmax(sizes)) + 1
    mask = labels == main
    area = int(mask.sum())
    if area < MIN_AREA:
        empty.reason = f"object too small ({area} px)"
        return empty
    ys, xs = np.nonzero(mask)
    colour, c_dist = _nearest(np.median(px[mask], axis=0), COLOURS)
    bbox = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    fill = area / bbox
    shape = next((s for s, (lo, hi) in FILL_RANGES.items() if lo <= fill < hi), None)
    cx, cy = float(xs.mean() + 0.5), float(ys.mean() + 0.5)
    if shape == "triangle":  # the centroid of an upright triangle sits a third of the way up; report bbox centre
        cy = float((ys.min() + ys.max() + 1) / 2)
    size = float(max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) / 2)
    reasons = []
    extra = float(sizes.sum() - sizes[main - 1])
    if extra > 0.1 * area:
        reasons.append(f"{n} objects")
    if c_dist > MAX_COLOUR_DIST:
        reasons.append(f"colour off-palette ({c_dist:.0f})")
    if bg_dist > MAX_COLOUR_DIST:
        reasons.append(f"background off-palette ({bg_dist:.0f})")
    if shape is None:
        reasons.append(f"unclear shape (fill {fill:.2f})")
    return Reading(colour, shape, background, cx, cy, size, mask, not reasons, "; ".join(reasons))


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 if both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
