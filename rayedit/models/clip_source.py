"""Where a CLIP model's weights come from - a preset, an open_clip folder, an ``hf-hub:`` id, a name + tag -
decided without importing open_clip (the driver checks a job's CLIP with this; :mod:`rayedit.models.clip` loads)."""

from __future__ import annotations

from pathlib import Path

from rayedit.models.errors import ModelLoadError

TINY_CLIP = "rayedit-tiny-clip"
CLIP_PRESETS = {"tiny": TINY_CLIP}
TOY_CLIP = "toy-clip"
TOY_CLIP_V2 = "toy-clip-v2"
TOY_WEIGHTS = Path(__file__).resolve().parent.parent / "toy" / "weights"
TOY_CLIP_DIR = TOY_WEIGHTS / TOY_CLIP
TOY_CLIPS = {TOY_CLIP: "clip", TOY_CLIP_V2: "clip-v2"}
"""The toy worlds' CLIPs (v1: one object at 32 px; v2: 64-px scenes) and the `rayedit toy train` name of each."""


def toy_clip_shipped(name: str = TOY_CLIP) -> bool:
    """Whether the package holds the trained toy CLIP ``name``."""
    return (TOY_WEIGHTS / name / "open_clip_config.json").is_file()


def folder_name(model: str) -> str | None:
    """open_clip's schema name for a self-describing checkpoint (toy preset, folder, hub), else None."""
    if model in TOY_CLIPS:
        if not toy_clip_shipped(model):
            raise ModelLoadError(f"{model} has no weights at {TOY_WEIGHTS / model}; build them: `rayedit toy train "
                                 f"{TOY_CLIPS[model]} --out DIR` and pass DIR as the CLIP model")
        return f"local-dir:{TOY_WEIGHTS / model}"
    if model.startswith(("local-dir:", "hf-hub:")):
        return model
    if (Path(model).expanduser() / "open_clip_config.json").is_file():
        return f"local-dir:{Path(model).expanduser()}"
    return None


def local_folder(model: str) -> Path | None:
    """The folder of a CLIP that is an open_clip folder on this machine (toy-clip, ``local-dir:``, a path)."""
    name = folder_name(model)
    return Path(name.removeprefix("local-dir:")) if name and name.startswith("local-dir:") else None


def clip_has_weights(model: str, pretrained: str | None) -> bool:
    """Whether ``load_clip(model, pretrained)`` gives trained weights (a tag or file, a folder, hf-hub, toy-clip)."""
    return pretrained is not None or folder_name(model) is not None
