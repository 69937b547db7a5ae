"""What a checkpoint is, read from its JSON configs alone - where its parts are, its resolution, whether it takes
text - without importing torch or diffusers: the driver plans and checks a job with this module, the workers load
the weights with :mod:`rayedit.models.load`."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from rayedit.config import ModelSpec
from rayedit.models.errors import ModelLoadError, offline_advice
from rayedit.models.presets import PRESETS

TOY_WEIGHTS = Path(__file__).resolve().parent.parent / "toy" / "weights"
TOY_PRESETS = ("toy-ddpm", "toy-text-ddpm", "toy-sd")
"""Trained toy-world models shipped in the package (``rayedit toy train`` rebuilds them; toy-sd: ``rayedit toy train
sd-vae``, ``sd-unet``, then ``rayedit toy pack-sd``)."""
PRESET_SIZE_STEPS = {"tiny": 2, "tiny-latent": 4}
"""The presets' :func:`size_step`: tiny's U-Net downsamples once; tiny-latent's VAE and U-Net halve once each."""


def toy_weights_shipped(name: str) -> bool:
    """Whether the package holds the trained weights of toy preset ``name``."""
    return (TOY_WEIGHTS / name / "model_index.json").is_file()


def resolve_name(name: str) -> str:
    """A toy preset becomes the path of its shipped weights; anything else stays as given."""
    if name in TOY_PRESETS:
        path = TOY_WEIGHTS / name
        if not toy_weights_shipped(name):
            raise ModelLoadError(f"toy model {name!r} has no weights at {path}; build them with `rayedit toy train`")
        return str(path)
    return name


@functools.cache
def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub answers at all (DNS + TCP), so an offline machine fails in seconds instead of
    retrying for a minute. False when HF_HUB_OFFLINE is set. Probed once per process, not per file."""
    import socket
    from urllib.parse import urlsplit

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlsplit(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def hub_kwargs(revision: str | None) -> dict:
    """Keyword arguments for hub downloads: cached files only when the hub cannot be reached."""
    return {"revision": revision, "local_files_only": not hub_reachable()}


def is_local_folder(name: str) -> bool:
    """Whether a model name is a folder on this machine (otherwise a preset or a hub id)."""
    return Path(name).expanduser().is_dir()


def pretrained_kwargs(root: str, revision: str | None) -> dict:
    """from_pretrained keyword arguments: none for local folders, revision + offline fallback for hub ids."""
    return {} if is_local_folder(root) else hub_kwargs(revision)


def read_json(root: str, filename: str, revision: str | None = None) -> dict | None:
    """``filename`` (e.g. ``unet/config.json``) of a local folder or a hub repo as a dict; None when the folder or
    repo has no such file. A missing repo, or no network without a cached copy, is a ModelLoadError."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RemoteEntryNotFoundError, RepositoryNotFoundError

    if is_local_folder(root):
        p = Path(root).expanduser() / filename
        return json.loads(p.read_text()) if p.is_file() else None
    try:
        return json.loads(Path(hf_hub_download(root, filename, **hub_kwargs(revision))).read_text())
    except RemoteEntryNotFoundError:  # the repo exists but has no such file
        return None
    except RepositoryNotFoundError:
        raise ModelLoadError(f"no model {root!r} on the Hugging Face hub (or it is private)") from None
    except (LocalEntryNotFoundError, OSError, ValueError):  # offline and not cached, network errors
        raise ModelLoadError(offline_advice(root)) from None


def _part_config(root: str, part: str, revision: str | None) -> dict:
    """A pipeline part's config.json (``unet``, ``vae``); a pipeline without it is a ModelLoadError."""
    cfg = read_json(root, f"{part}/config.json", revision)
    if cfg is None:
        raise ModelLoadError(f"{root!r} names a {part} in model_index.json but has no {part}/config.json")
    return cfg


def read_layout(root: str, spec: ModelSpec) -> tuple[str, dict]:
    """Find the U-Net inside a checkpoint: ('pipeline', model_index.json) or ('single', the U-Net's config)."""
    if Path(root).expanduser().is_file():
        raise ModelLoadError(
            f"model.name {root!r} is a single checkpoint file; rayedit loads diffusers folders. Convert it once: "
            "python -c 'from diffusers import StableDiffusionPipeline as P; "
            f"P.from_single_file(\"{root}\").save_pretrained(\"DIR\")' (needs the model's config, from the hub or "
            "a local original_config) and give DIR")
    if spec.subfolder:
        cfg = read_json(root, f"{spec.subfolder}/config.json", spec.revision)
        if cfg is None:
            raise ModelLoadError(f"{root!r} has no {spec.subfolder}/config.json")
        return "single", cfg
    index = read_json(root, "model_index.json", spec.revision)
    if index is not None:
        return "pipeline", index
    cfg = read_json(root, "config.json", spec.revision)
    if cfg is None:
        raise ModelLoadError(f"{root!r} has neither model_index.json nor config.json: not a diffusers checkpoint")
    return "single", cfg


def _root(name: str) -> str:
    """A resolved model name as from_pretrained takes it: an expanded local path, or the hub id."""
    return str(Path(name).expanduser()) if is_local_folder(name) else name


def vae_factor(root: str, index: dict | None, revision: str | None) -> int:
    """How much the pipeline's VAE shrinks each side (2 ** (blocks - 1); 8 for SD 1.5); 1 without a VAE."""
    if index is None or "vae" not in index:
        return 1
    return 2 ** (len(_part_config(root, "vae", revision)["block_out_channels"]) - 1)


def unet_downsampling(unet_cfg: dict) -> int:
    """How much the U-Net halves each side on its way down (2 ** (blocks - 1))."""
    return 2 ** (len(unet_cfg.get("block_out_channels", (0,))) - 1)


def size_multiple(root: str, index: dict | None, unet_cfg: dict, revision: str | None = None) -> int:
    """The multiple an image side must be: the VAE factor of a latent pipeline, else the pixel U-Net's
    downsampling factor."""
    if index is not None and "vae" in index:
        return vae_factor(root, index, revision)
    return unet_downsampling(unet_cfg)


def model_configs(spec: ModelSpec) -> tuple[str, dict | None, dict, int]:
    """(root, pipeline index or None for a single U-Net, U-Net config, native resolution), configs only."""
    name = resolve_name(spec.name)
    root = _root(name)
    kind, cfg = read_layout(root, spec.model_copy(update={"name": name}))
    if kind == "single":
        return root, None, cfg, int(cfg["sample_size"])
    unet_cfg = _part_config(root, "unet", spec.revision)
    return root, cfg, unet_cfg, int(unet_cfg["sample_size"]) * vae_factor(root, cfg, spec.revision)


def model_resolution(spec: ModelSpec) -> int:
    """The model's image side without loading weights (presets: known; others: from the config)."""
    if spec.resolution:
        return spec.resolution
    if spec.name in PRESETS:
        return 32
    return model_configs(spec)[3]


def check_model(spec: ModelSpec) -> tuple[int, list[str]]:
    """The model's image side, after checking it without loading it (:mod:`rayedit.models.checks`): its config,
    a local folder's weight files, the resolution asked for. Returns (resolution, notes)."""
    from rayedit.models.checks import check_local_weights, check_resolution

    if spec.name in PRESETS:
        return spec.resolution or 32, []
    root, index, unet_cfg, native = model_configs(spec)
    if is_local_folder(root):
        check_local_weights(Path(root))
    notes = check_resolution(spec, native, size_multiple(root, index, unet_cfg, spec.revision))
    return spec.resolution or native, notes


def size_step(spec: ModelSpec) -> int:
    """What each side of a ``keep_aspect`` image must be a multiple of, from the configs: the VAE factor times the
    U-Net's downsampling (8 x 8 = 64 px for SD 1.5), or a pixel U-Net's downsampling."""
    if spec.name in PRESETS:
        return PRESET_SIZE_STEPS[spec.name]
    root, index, unet_cfg, _ = model_configs(spec)
    return vae_factor(root, index, spec.revision) * unet_downsampling(unet_cfg)


def model_takes_text(spec: ModelSpec) -> bool:
    """Whether the model is text-conditioned (a pipeline with a text encoder), without loading weights."""
    if spec.name in PRESETS:
        return spec.name == "tiny-latent"
    name = resolve_name(spec.name)
    kind, cfg = read_layout(_root(name), spec.model_copy(update={"name": name}))
    return kind == "pipeline" and "text_encoder" in cfg
