"""CLIP models from open_clip: a model name + pretrained tag or local checkpoint, an open_clip folder
(``local-dir:PATH`` or a plain folder holding ``open_clip_config.json``), an ``hf-hub:`` id, or a preset
(``tiny``: random weights for tests; ``toy-clip``: the toy world's trained CLIP, shipped in the package)."""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F
from torch import nn

from rayedit.models.clip_source import CLIP_PRESETS, TINY_CLIP, clip_has_weights, folder_name
from rayedit.models.errors import ModelLoadError

CONFIG_DIR = Path(__file__).parent / "configs"


def register_configs() -> None:
    """Make rayedit's own open_clip configs (tiny and toy models) known to open_clip."""
    if TINY_CLIP not in open_clip.list_models():
        open_clip.add_model_config(CONFIG_DIR)


@dataclass
class ClipBundle:
    """An open_clip model with its tokenizer and image normalisation."""

    model: nn.Module
    tokenizer: object
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    label: str
    random_weights: bool

    def image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> L2-normalised image embeddings, differentiable (for CLIP losses)."""
        device = next(self.model.parameters()).device
        x = F.interpolate(pixels.to(device), size=(self.image_size, self.image_size), mode="bicubic",
                          antialias=True, align_corners=False).clamp(0, 1)
        mean = torch.tensor(self.mean, device=device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=device).view(1, -1, 1, 1)
        return F.normalize(self.model.encode_image((x - mean) / std).float(), dim=-1)

    @torch.no_grad()
    def embed_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8-range float (B, 3, H, W) in [0, 1] -> L2-normalised image embeddings."""
        return self.image_features(pixels)

    @torch.no_grad()
    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        """Captions -> L2-normalised text embeddings."""
        device = next(self.model.parameters()).device
        return F.normalize(self.model.encode_text(self.tokenizer(list(texts)).to(device)).float(), dim=-1)


def load_local_checkpoint(clip: nn.Module, path: str) -> None:
    """A local checkpoint into ``clip`` through open_clip's own loader (it converts OpenAI-format state dicts to the
    custom-text layout rayedit builds); safetensors, or torch files with ``weights_only=True`` - a pickle that would
    run code is refused."""
    try:
        open_clip.load_checkpoint(clip, path, weights_only=True)
    except pickle.UnpicklingError:
        raise ModelLoadError(f"CLIP checkpoint {path}: a pickle that does not load with weights_only=True (loading it "
                             "would run its code); refused - give a .safetensors file") from None
    except (RuntimeError, KeyError, ValueError) as err:
        first = str(err).strip().splitlines()[0][:300]
        raise ModelLoadError(f"CLIP checkpoint {path} does not fit open_clip model {type(clip).__name__}: {first}"
                             ) from None


def load_clip(model: str = "tiny", pretrained: str | None = None, device: str = "cpu", seed: int = 0) -> ClipBundle:
    """Load an open_clip model. ``pretrained`` is a tag (``openai``) or a local .safetensors/.pt file; open_clip
    folders, ``hf-hub:`` ids and the ``toy-clip`` preset carry their own weights."""
    register_configs()
    folder = folder_name(model)
    name = folder or CLIP_PRESETS.get(model, model)
    if folder is None and name not in open_clip.list_models():
        raise ModelLoadError(f"unknown open_clip model {model!r}; see open_clip.list_models(), or give an open_clip "
                             "folder (open_clip_config.json + weights) or an hf-hub: id")
    local = pretrained is not None and Path(pretrained).exists()
    torch.manual_seed(seed)
    root_logger = logging.getLogger()
    level = root_logger.level
    try:
        if folder is None and (pretrained is None or local):  # open_clip warns "no pretrained weights" via root
            root_logger.setLevel(logging.ERROR)
        clip = open_clip.create_model(
            name, pretrained=None if (local or folder) else pretrained, device="cpu", force_custom_text=True
        )
    except (RuntimeError, ValueError, FileNotFoundError) as err:
        raise ModelLoadError(
            f"could not load open_clip {model!r} pretrained={pretrained!r}: {err}. Without network, download "
            "the checkpoint elsewhere and give its local path as score.clip.pretrained."
        ) from None
    finally:
        root_logger.setLevel(level)
    if local:
        load_local_checkpoint(clip, pretrained)
    clip = clip.eval().to(device)
    cfg = clip.visual.preprocess_cfg
    size = clip.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    random_weights = not clip_has_weights(model, pretrained)
    return ClipBundle(
        model=clip,
        tokenizer=open_clip.get_tokenizer(name),
        image_size=int(size),
        mean=tuple(cfg.get("mean", open_clip.OPENAI_DATASET_MEAN)),
        std=tuple(cfg.get("std", open_clip.OPENAI_DATASET_STD)),
        label=f"{model}:{pretrained}" if pretrained else (model if folder else f"{model} (random weights)"),
        random_weights=random_weights,
    )
