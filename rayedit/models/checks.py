"""Checks of every model a job needs, on the driver before any work: unusable weights are a one-line error (exit 2)
in seconds, not an actor crash after a minute.

- diffusion model: its config is read (that is how its resolution is known); a local folder's weight files are
  opened - a safetensors header read, a torch file loaded with ``weights_only=True`` (memory-mapped), so a pickle
  that would run code is refused before anything unpickles it elsewhere;
- the resolution: a multiple of what the model can take (the VAE factor, or the pixel U-Net's downsampling);
- CLIP: an open_clip folder (toy-clip, ``local-dir:``, a path) by its config and weight headers; any other CLIP
  (a name + tag, ``hf-hub:``) is loaded (open_clip models are small next to a diffusion model);
- LPIPS: its torchvision backbone must be in the torch hub cache (lpips would try to download it).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

from rayedit.config import ClipSpec, LpipsSpec, ModelSpec, ScoreSpec, SpecError
from rayedit.models.clip_source import local_folder
from rayedit.models.errors import ModelLoadError
from rayedit.rows import first_line

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
LPIPS_BACKBONES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth",
                   "squeeze": "squeezenet1_1-b8a52dc0.pth"}
"""torchvision checkpoints the lpips package's backbones load (file names in the torch hub cache)."""


def check_weight_file(path: Path) -> None:
    """Open one weights file: a readable safetensors header, or a torch file that loads with ``weights_only``."""
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="numpy") as f:  # the header only: no torch needed
                f.keys()
        else:
            import torch

            torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError:
        raise ModelLoadError(f"{path}: a pickle that does not load with weights_only=True (loading it would run "
                             "its code); refused - use the checkpoint's .safetensors files") from None
    except Exception as err:  # noqa: BLE001 - a truncated or foreign file: say which and why, in one line
        first = first_line(err)
        raise ModelLoadError(f"{path}: unreadable weights ({type(err).__name__}: {first})") from None


def check_local_weights(folder: Path) -> None:
    """Every weights file of a local checkpoint folder (subfolders included; a safetensors file makes a ``.bin``
    beside it unused, as diffusers prefers safetensors)."""
    for path in sorted(folder.rglob("*")):
        if path.suffix not in WEIGHT_SUFFIXES or not path.is_file():
            continue
        if path.suffix != ".safetensors" and list(path.parent.glob(f"{path.stem}*.safetensors")):
            continue
        check_weight_file(path)


def check_resolution(spec: ModelSpec, native: int, multiple: int) -> list[str]:
    """SpecError unless ``model.resolution`` is a multiple of ``multiple``; a note when it exceeds ``native``."""
    if spec.resolution is None:
        return []
    if spec.resolution % multiple:
        low = spec.resolution // multiple * multiple
        raise SpecError(f"model.resolution {spec.resolution} is not a multiple of {multiple} (what {spec.name!r} "
                        f"takes); use {low} or {low + multiple}")
    if spec.resolution > native:
        return [f"model.resolution {spec.resolution} is above the model's native {native} px: expect repeated "
                "or distorted content"]
    return []


def check_clip(spec: ClipSpec | None, where: str = "score.clip") -> None:
    """Load the CLIP model once on the driver; any failure is a SpecError naming the field."""
    if spec is None:
        return
    try:
        folder = local_folder(spec.model)
        if folder is not None and spec.pretrained is None:
            check_clip_folder(folder)
            return
        from rayedit.models.clip import load_clip

        load_clip(spec.model, spec.pretrained)
    except ModelLoadError as err:
        raise SpecError(f"{where}: {err}") from None


def check_clip_folder(folder: Path) -> None:
    """An open_clip folder without loading it: its config names a model and its weight files open."""
    try:
        config = json.loads((folder / "open_clip_config.json").read_text())
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"{folder}: no readable open_clip_config.json ({err})") from None
    if not isinstance(config, dict) or "model_cfg" not in config:
        raise ModelLoadError(f"{folder}/open_clip_config.json has no model_cfg: not an open_clip folder")
    if not any(p.suffix in WEIGHT_SUFFIXES for p in folder.iterdir()):
        raise ModelLoadError(f"{folder} holds no weights file (open_clip_model.safetensors)")
    check_local_weights(folder)


def lpips_backbone(net: str) -> Path:
    """Where torchvision keeps the backbone LPIPS-``net`` loads."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / LPIPS_BACKBONES[net]


def check_lpips(spec: LpipsSpec | None, where: str = "score.lpips") -> None:
    """The backbone LPIPS-net needs must be in the torch hub cache (rayedit never downloads it mid-job)."""
    if spec is None or spec.random_backbone:
        return
    found = lpips_backbone(spec.net)
    if not found.is_file():
        raise SpecError(f"{where}: LPIPS-{spec.net} needs torchvision's {spec.net} weights at {found} (download "
                        f"them where there is network: python -c 'import lpips; lpips.LPIPS(net=\"{spec.net}\")'); "
                        f"or set {where}: null, or {where}.random_backbone: true (not a perceptual metric)")


def usable_scores(score: ScoreSpec, edited: bool = True) -> tuple[ScoreSpec, list[str]]:
    """``score`` with its DEFAULT LPIPS dropped when that backbone is not on this machine, or when nothing is
    edited (``edited`` False: a score-only job, where LPIPS to the source would be 0); an LPIPS the spec asks for
    explicitly must be usable (SpecError otherwise), and so must CLIP."""
    notes = []
    if not edited and score.lpips is not None:
        if "lpips" in score.model_fields_set:
            raise SpecError("score.lpips compares an edit with its source; a score-only job (editor.kind none) "
                            "edits nothing - set score.lpips: null")
        score = score.model_copy(update={"lpips": None})
    if score.lpips is not None and "lpips" not in score.model_fields_set:
        try:
            check_lpips(score.lpips)
        except SpecError:
            notes.append(f"score.lpips: the default LPIPS-{score.lpips.net} is skipped - its torchvision backbone is "
                         f"not at {lpips_backbone(score.lpips.net)}; set score.lpips (e.g. random_backbone: true, "
                         "not a perceptual metric) or put the weights there")
            score = score.model_copy(update={"lpips": None})
    check_lpips(score.lpips)
    check_clip(score.clip)
    return score, notes
