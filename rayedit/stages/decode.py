"""Decode stage: raw bytes -> upright RGB uint8 pixels at the model's resolution."""

from __future__ import annotations

import numpy as np

from rayedit.imaging import ImageError, decode_image, to_square
from rayedit.rows import Batch, fail, num_rows, obj_array, ok_mask, writable

SOURCE_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif",
                     "MPO": "jpg"}
"""File extension of each PIL format a score-only job may write unchanged."""


class DecodeImages:
    """Adds ``pixels`` (N, R, R, 3) uint8 (``resize``: center_crop or fit, :func:`rayedit.imaging.to_square`),
    ``source_size`` (N, 2: width, height of the decoded image) and ``box`` (N, 4: the part of it the pixels show);
    a row whose image cannot be used is marked failed with the reason."""

    def __init__(self, resolution: int, resize: str = "center_crop", keep_source: bool = False):
        self.resolution, self.resize, self.keep_source = resolution, resize, keep_source
        """``keep_source``: keep each row's input bytes (``image``) and their format (``source_ext``), for jobs
        that write the input files unchanged."""

    def __call__(self, batch: Batch) -> Batch:
        batch = writable(batch)
        n, r = num_rows(batch), self.resolution
        pixels = np.zeros((n, r, r, 3), dtype=np.uint8)
        sizes, boxes = np.zeros((n, 2), dtype=np.int64), np.zeros((n, 4), dtype=np.int64)
        exts = obj_array([""] * n)
        ok = ok_mask(batch)
        for i in range(n):
            if not ok[i]:
                continue
            try:
                img, fmt, size = decode_image(batch["image"][i], with_format=True,
                                              needed=(r, "long" if self.resize == "fit" else "short"))
                pixels[i], box = to_square(img, r, self.resize)
                scale = size[0] / img.size[0]  # a JPEG decoded at a reduced scale: boxes in full-size pixels
                boxes[i] = [round(v * scale) for v in box]
                sizes[i], exts[i] = size, SOURCE_EXTENSIONS.get(fmt, "")
            except ImageError as err:
                fail(batch, i, str(err))
        batch["pixels"], batch["source_size"], batch["box"] = pixels, sizes, boxes
        if self.keep_source:
            batch["source_ext"] = exts
        else:
            del batch["image"]
        return batch
