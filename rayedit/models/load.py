"""Load a diffusion model by preset name, local ``save_pretrained`` folder or hub id - one code path."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel, UNet2DModel

from rayedit.config import ModelSpec
from rayedit.models.device import pick_device, pick_dtype
from rayedit.models.diffusion import DiffusionModel
from rayedit.models.errors import ModelLoadError, offline_advice
from rayedit.models.presets import PRESETS

TOY_WEIGHTS = Path(__file__).resolve().parent.parent / "toy" / "weights"
TOY_PRESETS = ("toy-ddpm", "toy-text-ddpm", "toy-sd")
"""Trained toy-world models shipped in the package (``rayedit toy train`` rebuilds them; toy-sd: ``rayedit toy train
sd-vae``, ``sd-unet``, then ``rayedit toy pack-sd``)."""


def toy_weights_shipped(name: str) -> bool:
    """Whether the package holds the trained weights of toy preset ``name``."""
    return (TOY_WEIGHTS / name / "model_index.json").is_file()


def _resolve_name(name: str) -> str:
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


def _hub_kwargs(revision: str | None) -> dict:
    """Keyword arguments for hub downloads: cached files only when the hub cannot be reached."""
    return {"revision": revision, "local_files_only": not hub_reachable()}


def is_local_folder(name: str) -> bool:
    """Whether a model name is a folder on this machine (otherwise a preset or a hub id)."""
    return Path(name).expanduser().is_dir()


def _kw(root: str, revision: str | None) -> dict:
    """from_pretrained keyword arguments: none for local folders, revision + offline fallback for hub ids."""
    return {} if is_local_folder(root) else _hub_kwargs(revision)


def _weights_kw(spec: ModelSpec, root: str) -> dict:
    """from_pretrained keyword arguments for weights: _kw plus the spec's ``variant`` (e.g. fp16 files)."""
    return _kw(root, spec.revision) | ({"variant": spec.variant} if spec.variant else {})


def _layout(root: str, spec: ModelSpec) -> tuple[str, dict]:
    """Find the U-Net inside a checkpoint: 'pipeline' (model_index.json) or a single-model folder."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RemoteEntryNotFoundError, RepositoryNotFoundError

    def fetch(filename: str) -> dict | None:
        if is_local_folder(root):
            p = Path(root).expanduser() / filename
            return json.loads(p.read_text()) if p.is_file() else None
        try:
            return json.loads(Path(hf_hub_download(root, filename, **_hub_kwargs(spec.revision))).read_text())
        except RemoteEntryNotFoundError:  # the repo exists but has no such file
            return None
        except RepositoryNotFoundError:
            raise ModelLoadError(f"no model {root!r} on the Hugging Face hub (or it is private)") from None
        except (LocalEntryNotFoundError, OSError, ValueError):  # offline and not cached, network errors
            raise ModelLoadError(offline_advice(root)) from None

    if Path(root).expanduser().is_file():
        raise ModelLoadError(
            f"model.name {root!r} is a single checkpoint file; rayedit loads diffusers folders. Convert it once: "
            "python -c 'from diffusers import StableDiffusionPipeline as P; "
            f"P.from_single_file(\"{root}\").save_pretrained(\"DIR\")' (needs the model's config, from the hub or "
            "a local original_config) and give DIR")
    if spec.subfolder:
        cfg = fetch(f"{spec.subfolder}/config.json")
        if cfg is None:
            raise ModelLoadError(f"{root!r} has no {spec.subfolder}/config.json")
        return "single", cfg
    index = fetch("model_index.json")
    if index is not None:
        return "pipeline", index
    cfg = fetch("config.json")
    if cfg is None:
        raise ModelLoadError(f"{root!r} has neither model_index.json nor config.json: not a diffusers checkpoint")
    return "single", cfg


def _scheduler_alphas(root: str, subfolder: str | None, revision: str | None) -> tuple[torch.Tensor, str, dict]:
    """(alphas_cumprod, prediction type, the scheduler's settings) of a checkpoint."""
    for sub in (subfolder, "scheduler", None):
        try:
            sched = DDIMScheduler.from_pretrained(root, subfolder=sub, **_kw(root, revision))
            return sched.alphas_cumprod.double(), sched.config.prediction_type, dict(sched.config)
        except (OSError, ValueError):
            continue
    raise ModelLoadError(f"{root!r} has no scheduler config: cannot know its noise schedule")


def _load_text_encoder(root: str, index: dict, spec: ModelSpec):
    """The pipeline's text encoder: an open_clip model its model_index names, or transformers' CLIPTextModel."""
    from rayedit.models.text import HFClipTextEncoder, OpenClipTextEncoder

    entry = index.get("text_encoder") or [None, None]
    if entry[0] == "open_clip":
        from rayedit.models.clip import load_clip

        name = entry[1]
        if is_local_folder(root) and (Path(root) / name).is_dir():  # a folder inside the checkpoint
            name = str(Path(root) / name)
        clip = load_clip(name)
        return OpenClipTextEncoder(clip.model, clip.tokenizer).eval()
    try:
        from transformers import CLIPTextModel, CLIPTokenizer
    except ImportError:
        raise ModelLoadError(
            "Stable Diffusion layout checkpoints need the `transformers` package for their text encoder: "
            "pip install transformers"
        ) from None
    model = CLIPTextModel.from_pretrained(root, subfolder="text_encoder", **_weights_kw(spec, root))
    tok = CLIPTokenizer.from_pretrained(root, subfolder="tokenizer", **_kw(root, spec.revision))
    return HFClipTextEncoder(model.eval(), tok)


def _quiet_loading() -> None:
    """No per-file progress bars from diffusers and transformers while an actor loads its model (job logs)."""
    import diffusers.utils.logging

    diffusers.utils.logging.disable_progress_bar()
    try:
        import transformers.utils.logging

        transformers.utils.logging.disable_progress_bar()
    except ImportError:
        pass


def load_diffusion(spec: ModelSpec, device: str | None = None, seed: int = 0) -> DiffusionModel:
    """Load the model ``spec`` names onto ``device`` (default: GPU if visible) in the spec's dtype."""
    _quiet_loading()
    device = device or pick_device()
    dtype = pick_dtype(spec.dtype, device)
    if spec.name in PRESETS:
        model = PRESETS[spec.name](seed)
    else:
        model = _load_pretrained(spec.model_copy(update={"name": _resolve_name(spec.name)}), dtype)
        model.model_id = spec.name
    if spec.resolution:
        model.resolution = spec.resolution
    model.to(device)
    for part in (model.unet, model.vae, model.text_encoder):  # frozen: editors train their own modules only
        if isinstance(part, torch.nn.Module):
            part.requires_grad_(False)
    if dtype != torch.float32:  # fp16/bf16 only for the heavy parts; the DDIM math stays float32
        model.unet.to(dtype=dtype)
        if model.vae is not None:
            model.vae.to(dtype=dtype)
    return model


def _load_pretrained(spec: ModelSpec, dtype: torch.dtype = torch.float32) -> DiffusionModel:
    """The checkpoint's parts; the U-Net and VAE weights load straight into ``dtype`` (no float32 copy first)."""
    root = str(Path(spec.name).expanduser()) if is_local_folder(spec.name) else spec.name
    if not is_local_folder(root) and "/" not in root:
        raise ModelLoadError(f"model {spec.name!r} is neither a preset ({', '.join(PRESETS)}), a local folder, "
                             "nor a hub id (owner/name)")
    kind, cfg = _layout(root, spec)
    try:
        if kind == "pipeline":
            unet_cls = cfg.get("unet", [None, None])[1]
            if unet_cls == "UNet2DConditionModel":
                unet = UNet2DConditionModel.from_pretrained(root, subfolder="unet", dtype=dtype,
                                                            **_weights_kw(spec, root))
                text = _load_text_encoder(root, cfg, spec)
                alphas, pred, sched_cfg = _scheduler_alphas(root, "scheduler", spec.revision)
                if "vae" not in cfg:  # a pixel-space text-to-image model (e.g. toy-text-ddpm)
                    return DiffusionModel(unet.eval(), alphas, pred, int(unet.config.sample_size), spec.name,
                                          text_encoder=text, scheduler_config=sched_cfg)
                vae = AutoencoderKL.from_pretrained(root, subfolder="vae", dtype=dtype, **_weights_kw(spec, root))
                res = unet.config.sample_size * 2 ** (len(vae.config.block_out_channels) - 1)
                return DiffusionModel(unet.eval(), alphas, pred, res, spec.name, vae=vae.eval(), text_encoder=text,
                                      vae_scale=float(vae.config.scaling_factor), scheduler_config=sched_cfg)
            unet = UNet2DModel.from_pretrained(root, subfolder="unet", dtype=dtype, **_weights_kw(spec, root))
            alphas, pred, sched_cfg = _scheduler_alphas(root, "scheduler", spec.revision)
        else:
            name = cfg.get("_class_name")
            if name not in ("UNet2DModel", None):
                raise ModelLoadError(f"{spec.name!r} holds a {name}; a single-model checkpoint must be a UNet2DModel "
                                     "(give a full pipeline folder for latent models)")
            unet = UNet2DModel.from_pretrained(root, subfolder=spec.subfolder, dtype=dtype,
                                             **_weights_kw(spec, root))
            alphas, pred, sched_cfg = _scheduler_alphas(root, spec.subfolder, spec.revision)
    except ModelLoadError:
        raise
    except OSError as err:
        if is_local_folder(root):
            raise ModelLoadError(f"cannot load {spec.name!r}: {err}") from None
        raise ModelLoadError(offline_advice(spec.name)) from None
    return DiffusionModel(unet.eval(), alphas, pred, int(unet.config.sample_size), spec.name,
                          scheduler_config=sched_cfg)


def model_resolution(spec: ModelSpec) -> int:
    """The model's image side without loading weights (presets: known; others: from the config)."""
    if spec.resolution:
        return spec.resolution
    if spec.name in PRESETS:
        return 32
    name = _resolve_name(spec.name)
    spec = spec.model_copy(update={"name": name})
    root = str(Path(name).expanduser()) if is_local_folder(name) else name
    kind, cfg = _layout(root, spec)
    if kind == "single":
        return int(cfg["sample_size"])
    return pipeline_resolution(root, spec, cfg)


def _configs(spec: ModelSpec) -> tuple[str, dict | None, dict, int]:
    """(root, pipeline index or None for a single U-Net, U-Net config, native resolution), configs only."""
    name = _resolve_name(spec.name)
    root = str(Path(name).expanduser()) if is_local_folder(name) else name
    kind, cfg = _layout(root, spec.model_copy(update={"name": name}))
    if kind == "single":
        return root, None, cfg, int(cfg["sample_size"])
    unet_cfg = UNet2DConditionModel.load_config(root, subfolder="unet", **_kw(root, spec.revision))
    return root, cfg, unet_cfg, pipeline_resolution(root, spec, cfg)


def check_model(spec: ModelSpec) -> tuple[int, list[str]]:
    """The model's image side, after checking it without loading it (:mod:`rayedit.models.checks`): its config,
    a local folder's weight files, the resolution asked for. Returns (resolution, notes)."""
    from rayedit.models.checks import check_local_weights, check_resolution, size_multiple

    if spec.name in PRESETS:
        return spec.resolution or 32, []
    root, index, unet_cfg, native = _configs(spec)
    if is_local_folder(root):
        check_local_weights(Path(root))
    notes = check_resolution(spec, native, size_multiple(root, index, unet_cfg, **_kw(root, spec.revision)))
    return spec.resolution or native, notes


PRESET_SIZE_STEPS = {"tiny": 2, "tiny-latent": 4}
"""The presets' :func:`size_step`: tiny's U-Net downsamples once; tiny-latent's VAE and U-Net halve once each."""


def size_step(spec: ModelSpec) -> int:
    """What each side of a ``keep_aspect`` image must be a multiple of, from the configs: the VAE factor times the
    U-Net's downsampling (8 x 8 = 64 px for SD 1.5), or a pixel U-Net's downsampling."""
    from rayedit.models.checks import size_multiple

    if spec.name in PRESETS:
        return PRESET_SIZE_STEPS[spec.name]
    root, index, unet_cfg, _ = _configs(spec)
    unet_down = 2 ** (len(unet_cfg.get("block_out_channels", (0,))) - 1)
    vae = size_multiple(root, index, unet_cfg, **_kw(root, spec.revision))
    return vae * unet_down if index is not None and "vae" in index else vae


def model_takes_text(spec: ModelSpec) -> bool:
    """Whether the model is text-conditioned (a pipeline with a text encoder), without loading weights."""
    if spec.name in PRESETS:
        return spec.name == "tiny-latent"
    name = _resolve_name(spec.name)
    root = str(Path(name).expanduser()) if is_local_folder(name) else name
    kind, cfg = _layout(root, spec.model_copy(update={"name": name}))
    return kind == "pipeline" and "text_encoder" in cfg


def pipeline_resolution(root: str, spec: ModelSpec, index: dict) -> int:
    """The pixel side of a pipeline checkpoint: U-Net sample size, times the VAE factor for latent models."""
    unet_cfg = UNet2DConditionModel.load_config(root, subfolder="unet", **_kw(root, spec.revision))
    factor = 1
    if "vae" in index:
        vae_cfg = AutoencoderKL.load_config(root, subfolder="vae", **_kw(root, spec.revision))
        factor = 2 ** (len(vae_cfg["block_out_channels"]) - 1)
    return int(unet_cfg["sample_size"]) * factor
