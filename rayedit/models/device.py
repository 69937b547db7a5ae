"""Where a model runs and in which dtype (light: no diffusers import, so a score-only worker stays lean)."""

from __future__ import annotations

import torch


def pick_device() -> str:
    """cuda when a GPU is visible to this process, else cpu."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(spec_dtype: str, device: str) -> torch.dtype:
    """``auto`` = bf16 on GPUs that support it, else fp16 on GPU; fp32 on CPU (half is slow and lossy there)."""
    if spec_dtype != "auto":
        return getattr(torch, spec_dtype)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32
