"""The oracle's verdict on a finished job over toy images: what changed and what was preserved."""

from __future__ import annotations

import numpy as np

from rayedit.config import InputSpec
from rayedit.imaging import decode_image
from rayedit.storage.readers import read_tar
from rayedit.storage.shards import Shard, plan_shards
from rayedit.toy.oracle import mask_iou, read_image


def _images(spec: InputSpec) -> dict[str, np.ndarray]:
    out = {}
    for shard in plan_shards(spec):
        for s in read_tar(shard, spec) if shard.kind == "webdataset" else []:
            if s["status"] == "ok":
                out[s["key"]] = np.asarray(decode_image(s["image"]))
    return out


def pairs(input_url: str, output_url: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(key, source, edited) for every edited sample of a job, matched by key."""
    src = _images(InputSpec(url=input_url))
    out = []
    for shard in plan_shards(InputSpec(url=f"{output_url}/shards/*.tar")):
        for s in read_tar(Shard(shard.shard_id, "webdataset", shard.url), InputSpec(url=shard.url)):
            if s["status"] == "ok" and s["key"] in src:
                out.append((s["key"], src[s["key"]], np.asarray(decode_image(s["image"]))))
    return sorted(out, key=lambda p: p[0])


def edit_succeeded(source: np.ndarray, edited: np.ndarray, target_colour: str) -> bool:
    """The toy world's ground truth for one edit: both images readable, the target colour reached, shape and
    background kept, and the object's mask IoU with the source >= 0.8."""
    ra, rb = read_image(source), read_image(edited)
    return bool(ra.valid and rb.valid and rb.colour == target_colour and (ra.shape, ra.background) ==
                (rb.shape, rb.background) and mask_iou(ra.mask, rb.mask) >= 0.8)


def verdict(pairs_: list[tuple[str, np.ndarray, np.ndarray]], target_colour: str | None = None,
            target_background: str | None = None) -> dict:
    """Shares of outputs the oracle reads as valid, with the source's shape/background kept, the colour kept (or
    reaching ``target_colour``), mask IoU and centre shift against the source. With ``target_background`` (a
    two-attribute edit) the background must reach it instead of staying, and a success needs both targets."""
    n = len(pairs_)
    if not n:
        return {"n": 0}
    valid = kept = colour_ok = background_ok = success = success_preserved = 0
    ious, shifts = [], []
    for _, a, b in pairs_:
        ra, rb = read_image(a), read_image(b)
        valid += rb.valid
        if rb.valid and ra.valid:
            same = (ra.shape, target_background or ra.background) == (rb.shape, rb.background)
            iou = mask_iou(ra.mask, rb.mask)
            reached = rb.colour == (target_colour or ra.colour)
            bg_reached = target_background is None or rb.background == target_background
            kept += same
            colour_ok += reached
            background_ok += bg_reached
            success += reached and bg_reached
            success_preserved += reached and same and iou >= 0.8
            ious.append(iou)
            shifts.append(float(np.hypot(ra.cx - rb.cx, ra.cy - rb.cy)))
    out = {
        "n": n, "valid_share": valid / n,
        ("shape_kept_background_reached" if target_background else "shape_and_background_kept"): kept / n,
        ("target_colour_reached" if target_colour else "colour_kept"): colour_ok / n,
        "mask_iou_mean": float(np.mean(ious)) if ious else float("nan"),
        "iou_ge_0.8_share": float(np.mean([i >= 0.8 for i in ious])) if ious else 0.0,
        "centre_shift_px_mean": float(np.mean(shifts)) if shifts else float("nan"),
    }
    if target_background:
        out["target_background_reached"] = background_ok / n
        out["both_targets_reached"] = success / n
    if target_colour:  # the editors' goal: of the successful edits, how many kept shape, background and mask
        out["preserved_share_of_successes"] = success_preserved / success if success else 0.0
    return out
