"""Decode stage: raw bytes -> upright RGB uint8 pixels at the model's resolution."""

from __future__ import annotations

import numpy as np

from rayedit.imaging import ImageError, decode_image, resize_center_crop
from rayedit.rows import Batch, fail, num_rows, ok_mask, writable


class DecodeImages:
    """Adds ``pixels`` (N, R, R, 3) uint8; a row whose image cannot be used is marked failed with the reason."""

    def __init__(self, resolution: int):
        self.resolution = resolution

    def __call__(self, batch: Batch) -> Batch:
        batch = writable(batch)
        n, r = num_rows(batch), self.resolution
        pixels = np.zeros((n, r, r, 3), dtype=np.uint8)
        ok = ok_mask(batch)
        for i in range(n):
            if not ok[i]:
                continue
            try:
                pixels[i] = resize_center_crop(decode_image(batch["image"][i]), r)
            except ImageError as err:
                fail(batch, i, str(err))
        batch["pixels"] = pixels
        del batch["image"]
        return batch
