"""Images to and from the model's range (uint8 <-> [-1, 1]), and running a model on a batch so that one bad sample
fails alone (the batch first, then each sample on its own)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")


def to_model_range(pixels: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [-1, 1] (the inverse of :func:`to_uint8`)."""
    array = np.ascontiguousarray(pixels)
    if not array.flags.writeable:  # Ray hands read-only arrays; torch warns on (and must not write to) those
        array = array.copy()
    return torch.from_numpy(array).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (N, 3, H, W) in [-1, 1] -> uint8 (N, H, W, 3), rounded."""
    return ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def whole_then_alone(run: Callable[[list[int]], T], n: int) -> list[tuple[list[int], T | Exception]]:
    """``run`` on all ``n`` rows in one call; if that raises, on each row alone. Returns (rows, output or the
    exception it raised) per call, so one bad sample fails alone."""
    everything = list(range(n))
    try:
        return [(everything, run(everything))]
    except Exception:  # noqa: BLE001 - find the sample that broke the batch
        groups: list[tuple[list[int], T | Exception]] = []
        for i in everything:
            try:
                groups.append(([i], run([i])))
            except Exception as err:  # noqa: BLE001
                groups.append(([i], err))
        return groups


def run_isolated(run: Callable[[list[int]], torch.Tensor], n: int,
                 what: str) -> tuple[list[np.ndarray | None], list[str]]:
    """``run(rows)`` -> images in [-1, 1] for those rows, through :func:`whole_then_alone`. Returns per row the
    uint8 image (None if it failed) and the reason ('' if it worked): '<what> failed: ...' for an exception,
    '<what> produced non-finite values (NaN/Inf)' for NaN/Inf output."""
    images: list[np.ndarray | None] = [None] * n
    reasons = [""] * n
    for rows, out in whole_then_alone(run, n):
        if isinstance(out, Exception):
            reasons[rows[0]] = f"{what} failed: {type(out).__name__}: {out}"
            continue
        finite = torch.isfinite(out.flatten(1)).all(dim=1).cpu().numpy()
        good = to_uint8(out)
        for j, i in enumerate(rows):
            if finite[j]:
                images[i] = good[j]
            else:
                reasons[i] = f"{what} produced non-finite values (NaN/Inf)"
    return images, reasons
