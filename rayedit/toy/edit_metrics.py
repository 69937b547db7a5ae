"""Exact-target metrics of a v2 edit: the edit compared with the perfect edit the generator draws.

Our PIE-Bench-style numbers (structure, background preservation, target reached), with an exact reference:
PSNR of the whole image, PSNR of the background (outside every object of source and target), PSNR inside the
objects the task must keep and whether the oracle still reads them, the edited object's distance to its palette
colour and its mask IoU with the perfect edit, and the verdict at mask IoU >= 0.9 and >= 0.8.
"""

from __future__ import annotations

import math

import numpy as np

from rayedit.toy.edit_tasks import EditTask
from rayedit.toy.generator import COLOURS
from rayedit.toy.oracle import mask_iou
from rayedit.toy.scene_oracle import read_scene
from rayedit.toy.scenes import Scene, object_mask

IOU_BARS = (0.9, 0.8)
"""Mask IoU an edited or kept object needs for the verdict (both reported)."""
MAX_KEPT_SHIFT_PX = 1.5
"""A kept object's centre may move at most this far."""


def psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray | None = None) -> float:
    """PSNR in dB of two uint8 images (over the pixels ``where`` is True; inf when identical there)."""
    diff = a.astype(np.float64) - b.astype(np.float64)
    if where is not None:
        if not where.any():
            return float("nan")
        diff = diff[where]
    mse = float(np.mean(diff**2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def edit_metrics(task: EditTask, source: Scene, perfect: Scene, perfect_image: np.ndarray,
                 edited: np.ndarray) -> dict:
    """Metrics of one edit (uint8 (H, W, 3)) against the perfect edit of ``source`` (``perfect``,
    ``perfect_image``). ``success_iou_0.9`` / ``success_iou_0.8``: the oracle reads a valid scene with the
    target object edited as asked (mask IoU with the perfect edit >= the bar), every other object kept (colour,
    shape, IoU >= the bar, centre within MAX_KEPT_SHIFT_PX) and the background kind kept."""
    res = edited.shape[0]
    target_index = source.find(task.colour)
    masks_src = [object_mask(o, res) for o in source.objects]
    masks_dst = [object_mask(o, res) for o in perfect.objects]
    background = ~np.logical_or.reduce(masks_src + masks_dst)
    others = [i for i in range(len(source.objects)) if i != target_index]
    kept_mask = np.logical_or.reduce([masks_dst[i] for i in others]) if others else np.zeros_like(background)
    target_mask = masks_dst[target_index]
    goal = perfect.objects[target_index]

    reading = read_scene(edited)
    edited_obj = matching_object(reading, goal.cx, goal.cy)
    target_iou = mask_iou(edited_obj.mask, target_mask) if edited_obj is not None else 0.0
    reached = edited_obj is not None and edited_obj.colour == goal.colour and edited_obj.shape == goal.shape
    kept_ious = []
    kept_read = True
    for i in others:
        want = perfect.objects[i]
        got = matching_object(reading, want.cx, want.cy)
        ok = (got is not None and got.colour == want.colour and got.shape == want.shape
              and math.hypot(got.cx - want.cx, got.cy - want.cy) <= MAX_KEPT_SHIFT_PX)
        kept_read &= ok
        kept_ious.append(mask_iou(got.mask, masks_dst[i]) if got is not None else 0.0)
    scene_ok = reading.valid and len(reading.objects) == len(perfect.objects)
    background_ok = reading.background == perfect.background
    pixels = edited[target_mask].astype(np.float64)
    out = {
        "psnr": psnr(edited, perfect_image),
        "background_psnr": psnr(edited, perfect_image, background),
        "kept_objects_psnr": psnr(edited, perfect_image, kept_mask) if others else float("nan"),
        "kept_objects_read": kept_read if others else None,
        "target_palette_dist": float(np.linalg.norm(np.median(pixels, axis=0) - COLOURS[goal.colour])),
        "target_iou": target_iou,
        "target_reached": reached,
        "valid": reading.valid,
    }
    for bar in IOU_BARS:
        out[f"success_iou_{bar}"] = bool(scene_ok and background_ok and reached and target_iou >= bar and kept_read
                                         and all(k >= bar for k in kept_ious))
    return out


def matching_object(reading, cx: float, cy: float):
    """The read object nearest (cx, cy) among those whose centre lies within 4 px or whose mask covers it."""
    res = len(reading.background_model)
    y, x = min(int(cy), res - 1), min(int(cx), res - 1)
    near = [o for o in reading.objects if math.hypot(o.cx - cx, o.cy - cy) <= 4.0 or o.mask[y, x]]
    return min(near, key=lambda o: math.hypot(o.cx - cx, o.cy - cy), default=None)


def summarise(rows: list[dict]) -> dict:
    """Shares and medians over many edits' metrics (medians: PSNRs are heavy-tailed, inf for exact pixels)."""
    if not rows:
        return {"n": 0}

    def median(key):
        vals = [r[key] for r in rows if r[key] is not None and not (isinstance(r[key], float) and math.isnan(r[key]))]
        return float(np.median(vals)) if vals else float("nan")

    kept = [r["kept_objects_read"] for r in rows if r["kept_objects_read"] is not None]
    out = {"n": len(rows)}
    for bar in IOU_BARS:
        out[f"success_iou_{bar}"] = float(np.mean([r[f"success_iou_{bar}"] for r in rows]))
    out |= {
        "target_reached": float(np.mean([r["target_reached"] for r in rows])),
        "kept_objects_read": float(np.mean(kept)) if kept else float("nan"),
        "valid": float(np.mean([r["valid"] for r in rows])),
        "psnr_median": median("psnr"), "background_psnr_median": median("background_psnr"),
        "kept_objects_psnr_median": median("kept_objects_psnr"),
        "target_palette_dist_median": median("target_palette_dist"), "target_iou_mean": float(np.mean(
            [r["target_iou"] for r in rows])),
    }
    return out
