"""Safe state-dict loading: safetensors, or torch.load with weights_only=True. Never unpickles objects."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Load tensors from a .safetensors file, or from a torch checkpoint with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return state


def model_hash(unet: torch.nn.Module) -> str:
    """sha256 over the U-Net's parameters (names, shapes, bytes): ties a direction to the exact weights."""
    h = hashlib.sha256()
    for name, t in sorted(unet.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def latent_space_hash(model) -> str | None:
    """sha256 over a latent model's VAE parameters and latent scaling factor - the space a latent-to-latent network
    (a DDS translator) reads and writes, whatever U-Net it was distilled from; None for a pixel-space model."""
    if model.vae is None:
        return None
    return hashlib.sha256(f"{model_hash(model.vae)}:{float(model.vae_scale)!r}".encode()).hexdigest()[:16]
