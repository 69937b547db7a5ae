"""Where a CLIP model's weights come from - a preset, an open_clip folder, an ``hf-hub:`` id, a name + tag -
decided without importing open_clip (the driver checks a job's CLIP with this; :mod:`rayedit.models.clip` loads)."""

from __future__ import annotations

from pathlib import Path

from rayedit.models.errors import ModelLoadError

TINY_CLIP = "rayedit-tiny-clip"
CLIP_PRESETS = {"tiny": TINY_CLIP}
TOY_CLIP = "toy-clip"
TOY_CLIP_DIR = Path(__file__).resolve().parent.parent / "toy" / "weights" / TOY_CLIP


def toy_clip_shipped() -> bool:
    """Whether the package holds the trained toy CLIP."""
    return (TOY_CLIP_DIR / "open_clip_config.json").is_file()


def folder_name(model: str) -> str | None:
    """open_clip's schema name for a self-describing checkpoint (toy preset, folder, hub), else None."""
    if model == TOY_CLIP:
        if not toy_clip_shipped():
            raise ModelLoadError(f"toy CLIP has no weights at {TOY_CLIP_DIR}; build them: `rayedit toy train clip`")
        return f"local-dir:{TOY_CLIP_DIR}"
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
