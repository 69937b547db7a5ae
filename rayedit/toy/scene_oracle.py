"""The v2 world's judge: reads the background and every object (colour, shape, centre, size, mask) back from pixels.

Analytic like the v1 oracle (:mod:`rayedit.toy.oracle`): the background is modelled from the image border (objects
never touch it) - flat, a vertical gradient (rows vary) or a left | right split (columns vary) - and everything far
from that model is foreground, cut into connected objects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from rayedit.toy.generator import BACKGROUNDS, COLOURS
from rayedit.toy.oracle import FILL_RANGES, MAX_COLOUR_DIST, nearest_colour
from rayedit.toy.scenes import GRADIENT_BOTTOM, GRADIENT_TOP, TWO_TONE

FOREGROUND_DIST = 60.0
"""RGB distance from the background model beyond which a pixel belongs to an object."""
MIN_AREA = 20
"""Fewer pixels than this is not an object (the smallest drawn triangle has ~60)."""
PROFILE_RANGE = 60.0
"""A border profile (rows or columns) whose gray level spans more than this is not flat."""


@dataclass
class ObjectReading:
    """One object as read: palette colour (None when off-palette), shape (None when unclear), centre, half-extent,
    mask, and the distance of its median colour to the nearest palette colour."""

    colour: str | None
    shape: str | None
    cx: float
    cy: float
    size: float
    mask: np.ndarray
    colour_dist: float


@dataclass
class SceneReading:
    """What the oracle sees in one image. ``valid``: 1-3 objects, each of a clear palette colour and shape, on a
    known background, colours distinct."""

    background: str | None
    objects: list[ObjectReading]
    background_model: np.ndarray
    valid: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def caption(self) -> str | None:
        """The caption of what was read (None when not valid)."""
        from rayedit.toy.scenes import Scene, SceneObject

        if not self.valid:
            return None
        objs = tuple(SceneObject(o.colour, o.shape, o.cx, o.cy, o.size) for o in self.objects)
        return Scene(objs, self.background).caption

    def find(self, colour: str) -> ObjectReading | None:
        """The object read as ``colour`` (the first, left to right), or None."""
        return next((o for o in self.objects if o.colour == colour), None)


def _smooth(profile: np.ndarray) -> np.ndarray:
    return ndimage.median_filter(profile, size=(5, 1), mode="nearest")


def read_background(px: np.ndarray) -> tuple[str | None, np.ndarray, list[str]]:
    """(name, model image float (H, W, 3), problems) of the background, from the border rows and columns."""
    h, w, _ = px.shape
    rows = _smooth((px[:, 0] + px[:, -1]) / 2)  # (H, 3): the left and right border, row by row
    cols = _smooth((px[0] + px[-1]) / 2)  # (W, 3): the top and bottom border, column by column
    row_span, col_span = np.ptp(rows.mean(1)), np.ptp(cols.mean(1))
    problems = []
    if row_span > PROFILE_RANGE and row_span >= col_span:
        model = np.broadcast_to(rows[:, None, :], px.shape).copy()
        top, bottom = rows[:4].mean(), rows[-4:].mean()
        ok = abs(top - GRADIENT_TOP) < 30 and abs(bottom - GRADIENT_BOTTOM) < 30
        return ("gradient" if ok else None), model, [] if ok else [f"unknown gradient ({top:.0f} -> {bottom:.0f})"]
    if col_span > PROFILE_RANGE:
        model = np.broadcast_to(cols[None, :, :], px.shape).copy()
        left, right = cols[:4].mean(0), cols[-4:].mean(0)
        ok = (np.linalg.norm(left - TWO_TONE[0]) < MAX_COLOUR_DIST
              and np.linalg.norm(right - TWO_TONE[1]) < MAX_COLOUR_DIST)
        return ("two-tone" if ok else None), model, [] if ok else ["unknown two-tone background"]
    border = np.concatenate([px[0], px[-1], px[:, 0], px[:, -1]])
    rgb = np.median(border, axis=0)
    index, dist = nearest_colour(rgb, BACKGROUNDS)
    if dist > MAX_COLOUR_DIST:
        problems.append(f"background off-palette ({dist:.0f})")
    return (list(BACKGROUNDS)[int(index)] if not problems else None), np.broadcast_to(rgb, px.shape).copy(), problems


def _read_object(px: np.ndarray, mask: np.ndarray) -> ObjectReading:
    ys, xs = np.nonzero(mask)
    index, dist = nearest_colour(np.median(px[mask], axis=0), COLOURS)
    height, width = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    fill = mask.sum() / (height * width)
    shape = next((s for s, (lo, hi) in FILL_RANGES.items() if lo <= fill < hi), None)
    cx = float(xs.mean() + 0.5)
    cy = float((ys.min() + ys.max() + 1) / 2) if shape == "triangle" else float(ys.mean() + 0.5)
    colour = list(COLOURS)[int(index)] if dist <= MAX_COLOUR_DIST else None
    return ObjectReading(colour, shape, cx, cy, float(max(height, width) / 2), mask, float(dist))


def read_scene(img: np.ndarray) -> SceneReading:
    """Judge one uint8 (64, 64, 3) image."""
    px = img.astype(np.float64)
    background, model, reasons = read_background(px)
    fg = np.linalg.norm(px - model, axis=-1) > FOREGROUND_DIST
    labels, n = ndimage.label(fg)
    sizes = ndimage.sum(fg, labels, index=range(1, n + 1)) if n else np.zeros(0)
    objects = [_read_object(px, labels == i + 1) for i in range(n) if sizes[i] >= MIN_AREA]
    objects.sort(key=lambda o: o.cx)
    stray = float(sizes[sizes < MIN_AREA].sum()) if n else 0.0
    if not objects:
        reasons.append("no object")
    if len(objects) > 3:
        reasons.append(f"{len(objects)} objects")
    if stray > 0.2 * sum(o.mask.sum() for o in objects) + MIN_AREA:
        reasons.append(f"stray foreground ({stray:.0f} px)")
    for o in objects:
        if o.colour is None:
            reasons.append(f"object at x={o.cx:.0f} off-palette ({o.colour_dist:.0f})")
        if o.shape is None:
            reasons.append(f"object at x={o.cx:.0f} of unclear shape")
    colours = [o.colour for o in objects if o.colour]
    if len(set(colours)) < len(colours):
        reasons.append("two objects of one colour")
    return SceneReading(background, objects, model, not reasons, reasons)


def reads_as(scene, img: np.ndarray, tolerance_px: float = 1.5) -> bool:
    """The judge reads ``img`` as ``scene``: a valid scene with its background kind and every object's colour,
    shape and centre (within ``tolerance_px``), left to right."""
    r = read_scene(img)
    return (r.valid and r.background == scene.background and len(r.objects) == len(scene.objects)
            and all(o.colour == g.colour and o.shape == g.shape
                    and math.hypot(o.cx - g.cx, o.cy - g.cy) <= tolerance_px
                    for o, g in zip(r.objects, scene.objects, strict=True)))
