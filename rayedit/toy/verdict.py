"""The oracle's verdict on a finished job over toy images: what changed and what was preserved."""

from __future__ import annotations

import numpy as np

from rayedit.config import InputSpec
from rayedit.imaging import decode_image
from rayedit.storage.readers import read_tar
from rayedit.storage.shards import plan_shards
from rayedit.toy.oracle import mask_iou, read_image


def shard_images(spec: InputSpec) -> dict[str, np.ndarray]:
    """Every decodable image of an input's WebDataset shards, by sample key (uint8 (H, W, 3))."""
    out = {}
    for shard in plan_shards(spec):
        for s in read_tar(shard, spec) if shard.kind == "webdataset" else []:
            if s["status"] == "ok":
                out[s["key"]] = np.asarray(decode_image(s["image"]))
    return out


def output_images(output_url: str) -> dict[str, np.ndarray]:
    """Every image in a finished job's output shards (``OUTPUT/shards/*.tar``), by sample key."""
    return shard_images(InputSpec(url=f"{output_url.rstrip('/')}/shards/*.tar"))


def pairs(input_url: str, output_url: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(key, source, edited) for every edited sample of a job, matched by key."""
    src = shard_images(InputSpec(url=input_url))
    return sorted((key, src[key], img) for key, img in output_images(output_url).items() if key in src)


MAX_SHIFT_PX = 2.0
"""A shape edit keeps the object in place when its centre moves at most this far (mask IoU cannot: a circle and
the square around it overlap ~0.79 at best)."""


def verdict_of(sources: np.ndarray, edited: np.ndarray, target_colour: str | None = None,
               target_background: str | None = None, target_shape: str | None = None) -> dict:
    """:func:`verdict` on aligned uint8 arrays of source and edited images (each pair keyed by its position)."""
    return verdict([(str(i), a, b) for i, (a, b) in enumerate(zip(sources, edited, strict=True))], target_colour,
                   target_background, target_shape)


def edit_succeeded(source: np.ndarray, edited: np.ndarray, target_colour: str) -> bool:
    """The toy world's ground truth for one colour edit: both images readable, the target colour reached, shape and
    background kept, and the object's mask IoU with the source >= 0.8 (:func:`verdict`'s rule for one pair)."""
    return verdict([("", source, edited)], target_colour)["preserved_share_of_successes"] == 1.0


def verdict(pairs_: list[tuple[str, np.ndarray, np.ndarray]], target_colour: str | None = None,
            target_background: str | None = None, target_shape: str | None = None) -> dict:
    """Shares of outputs the oracle reads as valid, with the source's shape/background kept, the colour kept (or
    reaching ``target_colour``), mask IoU and centre shift against the source. A two-attribute edit gives
    ``target_background`` or ``target_shape`` as well: that attribute must reach it instead of staying, and a success
    needs both targets (a shape edit is preserved when the background stays and the centre moves <= MAX_SHIFT_PX;
    any other edit when shape and background stay and the mask IoU is >= 0.8)."""
    if target_background and target_shape:
        raise ValueError("judge at most two attributes: the colour and the background, or the colour and the shape")
    n = len(pairs_)
    if not n:
        return {"n": 0}
    valid = kept = colour_ok = second_ok = success = success_preserved = 0
    ious, shifts = [], []
    for _, a, b in pairs_:
        ra, rb = read_image(a), read_image(b)
        valid += rb.valid
        if rb.valid and ra.valid:
            shape_ok = rb.shape == (target_shape or ra.shape)
            background_ok = rb.background == (target_background or ra.background)
            iou = mask_iou(ra.mask, rb.mask)
            shift = float(np.hypot(ra.cx - rb.cx, ra.cy - rb.cy))
            reached = rb.colour == (target_colour or ra.colour)
            second = background_ok if target_background else shape_ok if target_shape else True
            in_place = shift <= MAX_SHIFT_PX if target_shape else iou >= 0.8
            kept += shape_ok and background_ok
            colour_ok += reached
            second_ok += second
            success += reached and second
            success_preserved += reached and shape_ok and background_ok and in_place
            ious.append(iou)
            shifts.append(shift)
    kept_key = ("shape_kept_background_reached" if target_background else
                "shape_reached_background_kept" if target_shape else "shape_and_background_kept")
    out = {
        "n": n, "valid_share": valid / n, kept_key: kept / n,
        ("target_colour_reached" if target_colour else "colour_kept"): colour_ok / n,
        "mask_iou_mean": float(np.mean(ious)) if ious else float("nan"),
        "iou_ge_0.8_share": float(np.mean([i >= 0.8 for i in ious])) if ious else 0.0,
        "centre_shift_px_mean": float(np.mean(shifts)) if shifts else float("nan"),
    }
    if target_background or target_shape:
        out["target_background_reached" if target_background else "target_shape_reached"] = second_ok / n
        out["both_targets_reached"] = success / n
    if target_colour:  # the editors' goal: of the successful edits, how many kept what they should, in place
        out["preserved_share_of_successes"] = success_preserved / success if success else 0.0
    return out
