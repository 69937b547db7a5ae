"""A trained direction on disk (any fsspec URL): f_t weights as safetensors + a JSON of how it was made."""

from __future__ import annotations

import json

import fsspec
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from rayedit.editors.asyrp.delta import build_delta

WEIGHTS, META = "direction.safetensors", "direction.json"
MEAN_DH = "mean_dh"
"""Tensor name of the mean direction (T_edit, C, H, W) in the weights file; its timesteps are in the JSON."""


def save_direction(url: str, delta: nn.Module, meta: dict, mean_dh: torch.Tensor | None = None) -> None:
    """Write ``url/direction.safetensors`` (f_t, and the mean direction when given) then ``url/direction.json``
    (the JSON last: it marks completion)."""
    fs, root = fsspec.core.url_to_fs(url)
    fs.makedirs(root, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in delta.state_dict().items()}
    if mean_dh is not None:
        state[MEAN_DH] = mean_dh.detach().cpu().contiguous()
    with fs.open(f"{root}/{WEIGHTS}", "wb") as f:
        f.write(save_safetensors(state))
    full = {**meta, **delta.arch_meta()}
    with fs.open(f"{root}/{META}", "w") as f:
        f.write(json.dumps(full, indent=2))


def _meta_at(fs, root: str, url: str) -> dict:
    """The direction JSON under ``root`` on ``fs`` (``url`` names it in the error)."""
    if not fs.exists(f"{root}/{META}"):
        raise FileNotFoundError(f"no Asyrp direction at {url!r} (expected {META} and {WEIGHTS})")
    with fs.open(f"{root}/{META}") as f:
        return json.loads(f.read())


def read_direction_meta(url: str) -> dict:
    """The JSON of a direction saved by :func:`save_direction` (how it was made: model, steps, t_edit, ...)."""
    return _meta_at(*fsspec.core.url_to_fs(url), url)


def load_direction(url: str) -> tuple[nn.Module, dict]:
    """Read a direction saved by :func:`save_direction` (safetensors only, nothing unpickled). The mean direction,
    when saved, is ``delta.mean_dh`` (else None)."""
    fs, root = fsspec.core.url_to_fs(url)
    meta = _meta_at(fs, root, url)
    delta = build_delta(meta)
    with fs.open(f"{root}/{WEIGHTS}", "rb") as f:
        state = load_safetensors(f.read())
    delta.mean_dh = state.pop(MEAN_DH, None)
    delta.load_state_dict(state)
    return delta.eval(), meta
