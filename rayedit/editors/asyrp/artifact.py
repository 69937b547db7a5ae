"""A trained direction on disk (any fsspec URL): f_t weights as safetensors + a JSON of how it was made."""

from __future__ import annotations

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from rayedit.editors.artifact_meta import DIRECTION_META, read_direction_meta
from rayedit.editors.asyrp.delta import build_delta
from rayedit.storage.artifacts import read_file, write_artifact

WEIGHTS, META = "direction.safetensors", DIRECTION_META
MEAN_DH = "mean_dh"
"""Tensor name of the mean direction (T_edit, C, H, W) in the weights file; its timesteps are in the JSON."""


def save_direction(url: str, delta: nn.Module, meta: dict, mean_dh: torch.Tensor | None = None) -> None:
    """Write ``url/direction.safetensors`` (f_t, and the mean direction when given) then ``url/direction.json``
    (the JSON last: it marks completion)."""
    state = {k: v.detach().cpu().contiguous() for k, v in delta.state_dict().items()}
    if mean_dh is not None:
        state[MEAN_DH] = mean_dh.detach().cpu().contiguous()
    write_artifact(url, {WEIGHTS: save_safetensors(state)}, META, {**meta, **delta.arch_meta()})


def load_direction(url: str) -> tuple[nn.Module, dict]:
    """Read a direction saved by :func:`save_direction` (safetensors only, nothing unpickled). The mean direction,
    when saved, is ``delta.mean_dh`` (else None)."""
    meta = read_direction_meta(url)
    delta = build_delta(meta)
    state = load_safetensors(read_file(url, WEIGHTS))
    delta.mean_dh = state.pop(MEAN_DH, None)
    delta.load_state_dict(state)
    return delta.eval(), meta
