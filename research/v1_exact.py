"""The v2 world's exact-target metrics on a v1 (32-px, one object) colour-edit job: each edit against the perfect
edit the v1 generator draws (same shape, place and background texture; only the colour changed), so the v1 demo can
be compared with editors on toy-sd on the same kind of numbers."""

from __future__ import annotations

import re

import numpy as np

from rayedit.toy.edit_metrics import psnr
from rayedit.toy.generator import COLOURS, recoloured_at, sample_at, shape_mask
from rayedit.toy.oracle import mask_iou, read_image
from rayedit.toy.verdict import output_images

V1_KEY = re.compile(r"^toy(\d+)$")


def v1_edit_metrics(output_url: str, seed: int, target_colour: str, bar: float = 0.9) -> dict:
    """Medians and shares over a v1 job's edited images (keys ``toy<index>`` of stream ``seed``): PSNR vs the perfect
    edit (whole image and background), the target's median-pixel distance to its palette colour, mask IoU with
    the perfect edit, and success (colour reached, shape and background kept, IoU >= ``bar``)."""
    rows = []
    for key, img in sorted(output_images(output_url).items()):
        found = V1_KEY.match(key)
        if found is None:
            raise ValueError(f"{key!r} is not a v1 toy key (toy<index>)")
        index = int(found.group(1))
        sample, _ = sample_at(seed, index)
        perfect = recoloured_at(seed, index, target_colour)
        mask = shape_mask(sample.shape, sample.cx, sample.cy, sample.size, img.shape[0])
        reading = read_image(img)
        iou = mask_iou(reading.mask, mask) if reading.valid else 0.0
        reached = reading.valid and reading.colour == target_colour and reading.shape == sample.shape \
            and reading.background == sample.background
        pixels = img[mask].astype(np.float64)
        rows.append({"psnr": psnr(img, perfect), "background_psnr": psnr(img, perfect, ~mask),
                     "target_palette_dist": float(np.linalg.norm(np.median(pixels, axis=0) - COLOURS[target_colour])),
                     "target_iou": iou, "success": bool(reached and iou >= bar)})
    if not rows:
        return {"n": 0}
    med = {k: float(np.median([r[k] for r in rows])) for k in ("psnr", "background_psnr", "target_palette_dist")}
    return {"n": len(rows), f"success_iou_{bar}": float(np.mean([r["success"] for r in rows])),
            "psnr_median": med["psnr"], "background_psnr_median": med["background_psnr"],
            "target_palette_dist_median": med["target_palette_dist"],
            "target_iou_mean": float(np.mean([r["target_iou"] for r in rows]))}
