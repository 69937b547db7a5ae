"""Decode stage: raw bytes -> upright RGB uint8 pixels at the model's resolution."""

from __future__ import annotations

import numpy as np

from rayedit.image_column import image_column
from rayedit.imaging import ImageError, decode_image, to_model_size
from rayedit.rows import Batch, fail, num_rows, obj_array, ok_mask, writable

SOURCE_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif",
                     "MPO": "jpg"}
"""File extension of each PIL format a score-only job may write unchanged."""


class DecodeImages:
    """Adds ``pixels``: uint8 (N, R, R, 3) with ``resize`` center_crop or fit, per-row sizes with keep_aspect (sides
    multiples of ``step``; :mod:`rayedit.image_column`) - see :func:`rayedit.imaging.to_model_size` - and
    ``source_size`` (N, 2: width, height of the decoded image), ``box`` (N, 4: the part of it the pixels show) and
    ``source_ext`` (the input's format as a file extension, '' if unknown: ``output.image_format: auto`` follows it);
    a row whose image cannot be used is marked failed with the reason. With keep_aspect the rows come out sorted by
    size (aspect-ratio buckets within the batch); their order carries no meaning (``index`` does)."""

    def __init__(self, resolution: int, resize: str = "center_crop", keep_source: bool = False, step: int = 8):
        self.resolution, self.resize, self.keep_source, self.step = resolution, resize, keep_source, step
        """``keep_source``: keep each row's input bytes (``image``), for jobs that write the input files
        unchanged."""

    def __call__(self, batch: Batch) -> Batch:
        batch = writable(batch)
        n, r = num_rows(batch), self.resolution
        square = self.resize != "keep_aspect"
        # one preallocated array for squares; per-row arrays otherwise (a failed row keeps a blank square)
        pixels = np.zeros((n, r, r, 3), dtype=np.uint8) if square else [np.zeros((r, r, 3), dtype=np.uint8)] * n
        sizes, boxes = np.zeros((n, 2), dtype=np.int64), np.zeros((n, 4), dtype=np.int64)
        exts = obj_array([""] * n)
        ok = ok_mask(batch)
        for i in range(n):
            if not ok[i]:
                continue
            try:
                img, fmt, size = decode_image(batch["image"][i], with_format=True,
                                              needed=(r, "long" if self.resize == "fit" else "short"))
                pixels[i], box = to_model_size(img, r, self.resize, self.step)
                scale = size[0] / img.size[0]  # a JPEG decoded at a reduced scale: boxes in full-size pixels
                boxes[i] = [round(v * scale) for v in box]
                sizes[i], exts[i] = size, SOURCE_EXTENSIONS.get(fmt, "")
            except ImageError as err:
                fail(batch, i, str(err))
        batch["pixels"] = pixels if square else image_column(pixels)
        batch["source_size"], batch["box"], batch["source_ext"] = sizes, boxes, exts
        if not self.keep_source:
            del batch["image"]
        if not square:  # rows of one size next to each other: the edit stage's batches then mostly hold one size
            order = sorted(range(n), key=lambda i: pixels[i].shape)
            batch = {k: v[order] for k, v in batch.items()}
        return batch
